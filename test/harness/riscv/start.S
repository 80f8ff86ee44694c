/* SPDX-License-Identifier: Apache-2.0 */
/* Bare-metal M-mode entry, trap handler, try_call (setjmp-like) and the lower-privilege probe stubs.
   Works for RV32 and RV64 (REG_S/REG_L pick sw/lw or sd/ld). */
#if __riscv_xlen == 64
#define REG_S sd
#define REG_L ld
#define REGBYTES 8
#else
#define REG_S sw
#define REG_L lw
#define REGBYTES 4
#endif

/* mstatus fields, RISC-V Privileged ISA §3.1.6 */
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP_MASK  (3 << MSTATUS_MPP_SHIFT)
#define MSTATUS_MPRV      (1 << 17)

    .section .text.init, "ax"
    .globl _start
_start:
    la   sp, stack_top
    la   t0, trap_entry
    csrw mtvec, t0            /* direct mode: low two bits 00 */
    csrw mie, zero
    csrw medeleg, zero        /* every trap goes to M-mode */
    csrw satp, zero           /* Bare: S/U accesses are physical, only PMP applies */
    call main
1:  wfi
    j    1b

/* long try_call(fn, a, b, c, d): calls fn(a, b, c, d); returns 0 when it returns, 1 + mcause when it traps. */
    .text
    .globl try_call
try_call:
    la   t0, try_ctx
    REG_S ra,  0*REGBYTES(t0)
    REG_S sp,  1*REGBYTES(t0)
    REG_S s0,  2*REGBYTES(t0)
    REG_S s1,  3*REGBYTES(t0)
    REG_S s2,  4*REGBYTES(t0)
    REG_S s3,  5*REGBYTES(t0)
    REG_S s4,  6*REGBYTES(t0)
    REG_S s5,  7*REGBYTES(t0)
    REG_S s6,  8*REGBYTES(t0)
    REG_S s7,  9*REGBYTES(t0)
    REG_S s8, 10*REGBYTES(t0)
    REG_S s9, 11*REGBYTES(t0)
    REG_S s10,12*REGBYTES(t0)
    REG_S s11,13*REGBYTES(t0)
    mv   t1, a0
    mv   a0, a1
    mv   a1, a2
    mv   a2, a3
    mv   a3, a4
    jalr t1
    la   t0, try_ctx
    REG_L ra, 0(t0)
    li   a0, 0
    ret

    .align 4
    .globl trap_entry
trap_entry:
    la   t1, trap_info
    csrr t0, mcause
    REG_S t0, 0*REGBYTES(t1)
    csrr t0, mtval
    REG_S t0, 1*REGBYTES(t1)
    csrr t0, mepc
    REG_S t0, 2*REGBYTES(t1)
    la   t0, try_ctx
    REG_L ra,  0*REGBYTES(t0)
    REG_L sp,  1*REGBYTES(t0)
    REG_L s0,  2*REGBYTES(t0)
    REG_L s1,  3*REGBYTES(t0)
    REG_L s2,  4*REGBYTES(t0)
    REG_L s3,  5*REGBYTES(t0)
    REG_L s4,  6*REGBYTES(t0)
    REG_L s5,  7*REGBYTES(t0)
    REG_L s6,  8*REGBYTES(t0)
    REG_L s7,  9*REGBYTES(t0)
    REG_L s8, 10*REGBYTES(t0)
    REG_L s9, 11*REGBYTES(t0)
    REG_L s10,12*REGBYTES(t0)
    REG_L s11,13*REGBYTES(t0)
    csrr a0, mcause
    addi a0, a0, 1
    ret                        /* back to try_call's caller, still in M-mode */

/* enter_mode(addr, stub, mpp, value): run stub at privilege mpp (0 U, 1 S, 3 M) with a0 = addr, a1 = value. */
    .globl enter_mode
enter_mode:
    li   t0, MSTATUS_MPP_MASK
    csrc mstatus, t0
    li   t0, MSTATUS_MPRV
    csrc mstatus, t0
    slli t1, a2, MSTATUS_MPP_SHIFT
    csrs mstatus, t1
    csrw mepc, a1
    mv   a1, a3
    mret

/* The stubs live alone in one 4 KiB page at 0x80010000 (the harness ABI): one access, then ecall. */
    .section .ustub, "ax"
    .globl stub_lb, stub_lh, stub_lw, stub_sb, stub_sh, stub_sw, stub_x
stub_lb: lb t0, 0(a0)
         ecall
stub_lh: lh t0, 0(a0)
         ecall
stub_lw: lw t0, 0(a0)
         ecall
stub_sb: sb a1, 0(a0)
         ecall
stub_sh: sh a1, 0(a0)
         ecall
stub_sw: sw a1, 0(a0)
         ecall
stub_x:  jr a0
#if __riscv_xlen == 64
    .globl stub_ld, stub_sd
stub_ld: ld t0, 0(a0)
         ecall
stub_sd: sd a1, 0(a0)
         ecall
#endif

    .bss
    .align 4
    .globl try_ctx, trap_info
try_ctx:   .space 14*REGBYTES
trap_info: .space 3*REGBYTES
