/*
 * eio.c — an LD_PRELOAD shim for the model read-error checks (issue 10): the file named by
 * $GPTC_EIO_FILE cannot be read. $GPTC_EIO_MODE says how:
 *   open   open() fails with EIO
 *   map    mmap() of it fails with EIO (and read/pread too)
 *   fault  mmap() succeeds, then the file is cut to 4 KiB: touching a later page is a bus
 *          error, as a read error of a mapped file arrives (SIGBUS)
 * Built by tests/e2e/test_model_io.sh (cc -shared -fPIC); never linked into gptc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

static int is_target_path(const char *path)
{
    const char *f = getenv("GPTC_EIO_FILE");
    return f && path && strcmp(f, path) == 0;
}

static int is_target_fd(int fd)
{
    const char *f = getenv("GPTC_EIO_FILE");
    if (!f || fd < 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return strcmp(path, f) == 0;
}

static int mode_is(const char *m)
{
    const char *e = getenv("GPTC_EIO_MODE");
    return e && strcmp(e, m) == 0;
}

typedef int (*open_fn)(const char *, int, ...);
int open(const char *path, int flags, ...)
{
    static open_fn real;
    if (!real) real = (open_fn)dlsym(RTLD_NEXT, "open");
    va_list ap;
    va_start(ap, flags);
    mode_t m = (flags & O_CREAT) ? (mode_t)va_arg(ap, int) : 0;
    va_end(ap);
    if (mode_is("open") && is_target_path(path)) {
        errno = EIO;
        return -1;
    }
    return real(path, flags, m);
}

typedef ssize_t (*read_fn)(int, void *, size_t);
ssize_t read(int fd, void *buf, size_t n)
{
    static read_fn real;
    if (!real) real = (read_fn)dlsym(RTLD_NEXT, "read");
    if (mode_is("map") && is_target_fd(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n);
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    static pread_fn real;
    if (!real) real = (pread_fn)dlsym(RTLD_NEXT, "pread");
    if (mode_is("map") && is_target_fd(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    static mmap_fn real;
    if (!real) real = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
    int target = is_target_fd(fd);
    if (target && mode_is("map")) {
        errno = EIO;
        return MAP_FAILED;
    }
    void *p = real(addr, len, prot, flags, fd, off);
    if (target && mode_is("fault") && p != MAP_FAILED) {
        const char *f = getenv("GPTC_EIO_FILE");
        if (truncate(f, 4096) != 0) perror("eio shim: truncate");
    }
    return p;
}
