// SPDX-License-Identifier: Apache-2.0
// Bare-metal M-mode PMP harness for QEMU virt (-bios none). It reads a table blob produced by the C# library
// (loaded with -device loader,file=...,addr=0x80200000,force-raw=on), programs the PMP CSRs for each table,
// reads them back, probes R/W/X from U, S and M mode and prints one machine-parseable line per result:
//   HARNESS <xlen>            start
//   NPMP <n> G <g> ADDRMAX 0x<readback of all-ones>
//   TABLE <t>                 a table was programmed
//   CSR <t> A <i> 0x<pmpaddr i>   /   CSR <t> C <r> 0x<pmpcfg r>   (read back)
//   P <t> <i> ALLOW           /   P <t> <i> FAULT <mcause> 0x<mtval>
//   ERROR <text>              /   DONE <n>   (n = bytes printed before the DONE line, so the reader can prove
//                                            that no output was lost on the way)
// then exits QEMU through the sifive_test device (0x100000).
#include <stdint.h>

typedef unsigned long ureg;

/* Blob layout (little-endian), written by Tyche.Backends.Pmp.Tests/QemuHarness.cs */
#define BLOB_ADDR      0x80200000UL
#define BLOB_MAGIC     0x544d5050u   /* "PPMT" */
#define BLOB_VERSION   2u
#define ARENA_START    0x80400000UL  /* probe targets; every word holds an ecall */
#define ARENA_END      0x80800000UL
#define ECALL_INSN     0x00000073u   /* RISC-V unprivileged ISA: ECALL encoding */

/* QEMU virt devices */
#define UART0          0x10000000UL  /* ns16550a */
#define UART_THR       0
#define UART_LSR       5
#define UART_LSR_THRE  0x20
#define SIFIVE_TEST    0x100000UL
#define TEST_PASS      0x5555u

/* mcause values, RISC-V Privileged ISA §3.1.15 Table "Machine cause register (mcause) values" */
#define CAUSE_ILLEGAL_INSN  2
#define CAUSE_ECALL_U       8
#define CAUSE_ECALL_S       9
#define CAUSE_ECALL_M       11

/* CSR numbers, Privileged ISA §2.2 */
#define CSR_PMPCFG0   0x3a0
#define CSR_PMPADDR0  0x3b0

struct blob_header { uint32_t magic, version, tables, entries; uint32_t rsvd[4]; };
struct blob_table  { uint32_t probes, rsvd[3]; };
struct blob_entry  { uint64_t addr; uint8_t cfg, pad[7]; };
struct blob_probe  { uint64_t addr; uint8_t kind, mode, size, pad[5]; };

extern long try_call(void *fn, ureg a, ureg b, ureg c, ureg d);
extern void enter_mode(ureg addr, ureg stub, ureg mpp, ureg value);
extern ureg trap_info[3];
extern char stub_lb[], stub_lh[], stub_lw[], stub_sb[], stub_sh[], stub_sw[], stub_x[];
#if __riscv_xlen == 64
extern char stub_ld[], stub_sd[];
#endif

void *memset(void *d, int c, unsigned long n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }

static unsigned long g_printed;   /* bytes sent to the UART so far */
static void putc_(char c) {
    volatile uint8_t *u = (volatile uint8_t *)UART0;
    g_printed++;
    while (!(u[UART_LSR] & UART_LSR_THRE)) { }
    u[UART_THR] = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putdec(unsigned long v) { char b[24]; int n = 0; do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v); while (n) putc_(b[--n]); }
static void puthex(uint64_t v) { puts_("0x"); for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]); }
static void finish(uint32_t code) { *(volatile uint32_t *)SIFIVE_TEST = code; for (;;) { } }

/* Indexed CSR access: csrr/csrw need an immediate CSR number. */
#define CASE_W(base, n) case n: __asm__ volatile("csrw %0, %1" :: "i"(base + n), "r"(v)); break;
#define CASE_R(base, n) case n: __asm__ volatile("csrr %0, %1" : "=r"(v) : "i"(base + n)); break;
#define X8(M, base, o) M(base, o+0) M(base, o+1) M(base, o+2) M(base, o+3) M(base, o+4) M(base, o+5) M(base, o+6) M(base, o+7)
#define X64(M, base) X8(M, base, 0) X8(M, base, 8) X8(M, base, 16) X8(M, base, 24) X8(M, base, 32) X8(M, base, 40) X8(M, base, 48) X8(M, base, 56)
#define X16(M, base) X8(M, base, 0) X8(M, base, 8)

static void pmpaddr_write(ureg i, ureg v) { switch (i) { X64(CASE_W, CSR_PMPADDR0) } }
static ureg pmpaddr_read(ureg i) { ureg v = 0; switch (i) { X64(CASE_R, CSR_PMPADDR0) } return v; }
static void pmpcfg_write(ureg i, ureg v) { switch (i) { X16(CASE_W, CSR_PMPCFG0) } }
static ureg pmpcfg_read(ureg i) { ureg v = 0; switch (i) { X16(CASE_R, CSR_PMPCFG0) } return v; }

static ureg g_read;
static void probe_csr(ureg i) { pmpaddr_write(i, ~0UL); g_read = pmpaddr_read(i); }

#if __riscv_xlen == 64
#define ENTRIES_PER_CFG 8
#define CFG_STEP 2   /* RV64: only even pmpcfg registers exist (Privileged ISA §3.7.1) */
#else
#define ENTRIES_PER_CFG 4
#define CFG_STEP 1
#endif

static void *stub_for(uint8_t kind, uint8_t size) {
    if (kind == 'X') return stub_x;
    if (kind == 'R') { switch (size) { case 1: return stub_lb; case 2: return stub_lh; case 4: return stub_lw;
#if __riscv_xlen == 64
        case 8: return stub_ld;
#endif
    } }
    if (kind == 'W') { switch (size) { case 1: return stub_sb; case 2: return stub_sh; case 4: return stub_sw;
#if __riscv_xlen == 64
        case 8: return stub_sd;
#endif
    } }
    return 0;
}

int main(void) {
    puts_("HARNESS "); putdec(__riscv_xlen); putc_('\n');

    /* Entry count: the first pmpaddr that traps (illegal instruction) or reads back 0 after writing all ones. */
    unsigned n = 0;
    ureg addrmax = 0;
    for (; n < 64; n++) {
        if (try_call((void *)probe_csr, n, 0, 0, 0) != 0 || g_read == 0) break;
        if (n == 0) addrmax = g_read;
        pmpaddr_write(n, 0);
    }
    /* Granularity: with pmp0cfg = 0, write all ones to pmpaddr0; G = index of the lowest set bit (Privileged ISA §3.7.1). */
    unsigned g = 0;
    if (n > 0) { pmpcfg_write(0, 0); pmpaddr_write(0, ~0UL); ureg v = pmpaddr_read(0); while (g < 64 && !((v >> g) & 1)) g++; pmpaddr_write(0, 0); }
    puts_("NPMP "); putdec(n); puts_(" G "); putdec(g); puts_(" ADDRMAX "); puthex(addrmax); putc_('\n');

    /* Plant an ecall in every word of the arena while M-mode still has unrestricted access. W probes store the same pattern. */
    for (ureg a = ARENA_START; a < ARENA_END; a += 4) *(volatile uint32_t *)a = ECALL_INSN;
    __asm__ volatile("fence.i" ::: "memory");

    const struct blob_header *h = (const struct blob_header *)BLOB_ADDR;
    if (h->magic != BLOB_MAGIC || h->version != BLOB_VERSION) { puts_("ERROR bad blob header\n"); finish((1u << 16) | 0x3333); }
    if (h->entries != n) { puts_("ERROR blob has "); putdec(h->entries); puts_(" entries, hart has "); putdec(n); putc_('\n'); finish((2u << 16) | 0x3333); }

    const uint8_t *p = (const uint8_t *)(h + 1);
    for (uint32_t t = 0; t < h->tables; t++) {
        const struct blob_table *tb = (const struct blob_table *)p;
        const struct blob_entry *e = (const struct blob_entry *)(tb + 1);
        const struct blob_probe *pr = (const struct blob_probe *)(e + n);
        p = (const uint8_t *)(pr + tb->probes);
        /* The blob must end below the arena: the ecall fill above would have overwritten anything beyond it. */
        if ((ureg)p > ARENA_START) { puts_("ERROR blob overlaps the probe arena at table "); putdec(t); putc_('\n'); finish((3u << 16) | 0x3333); }

        /* All addresses first, then each pmpcfg register once: a locked cfg freezes its pmpaddr (Privileged ISA §3.7.1.2). */
        for (unsigned i = 0; i < n; i++) pmpaddr_write(i, (ureg)e[i].addr);
        for (unsigned r = 0; r * ENTRIES_PER_CFG < n; r++) {
            ureg v = 0;
            for (unsigned b = 0; b < ENTRIES_PER_CFG && r * ENTRIES_PER_CFG + b < n; b++) v |= (ureg)e[r * ENTRIES_PER_CFG + b].cfg << (8 * b);
            pmpcfg_write(r * CFG_STEP, v);
        }
        __asm__ volatile("sfence.vma zero, zero" ::: "memory");   /* Privileged ISA §3.7.2 */

        puts_("TABLE "); putdec(t); putc_('\n');
        for (unsigned i = 0; i < n; i++) { puts_("CSR "); putdec(t); puts_(" A "); putdec(i); putc_(' '); puthex(pmpaddr_read(i)); putc_('\n'); }
        for (unsigned r = 0; r * ENTRIES_PER_CFG < n; r++) { puts_("CSR "); putdec(t); puts_(" C "); putdec(r); putc_(' '); puthex(pmpcfg_read(r * CFG_STEP)); putc_('\n'); }

        for (uint32_t i = 0; i < tb->probes; i++) {
            ureg addr = (ureg)pr[i].addr;
            void *stub = stub_for(pr[i].kind, pr[i].size);
            puts_("P "); putdec(t); putc_(' '); putdec(i); putc_(' ');
            if (!stub || addr < ARENA_START || addr + pr[i].size > ARENA_END || (addr & (pr[i].size - 1))) { puts_("INVALID\n"); continue; }
            /* the value a store writes keeps the ecall pattern of the word it lands in */
            uint64_t pattern = ((uint64_t)ECALL_INSN << 32) | ECALL_INSN;
            ureg value = (ureg)(pattern >> (8 * (addr & 3)));
            long r = try_call((void *)enter_mode, addr, (ureg)stub, pr[i].mode, value);
            ureg cause = (ureg)(r - 1);
            if (r != 0 && (cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S || cause == CAUSE_ECALL_M)) { puts_("ALLOW\n"); }
            else { puts_("FAULT "); putdec(r == 0 ? 0 : cause); putc_(' '); puthex(trap_info[1]); putc_('\n'); }
        }
    }
    unsigned long printed = g_printed;
    puts_("DONE "); putdec(printed); putc_('\n');
    finish(TEST_PASS);
    return 0;
}
