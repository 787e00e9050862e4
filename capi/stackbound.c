//go:build linux

/* The Go runtime asks for the stack bounds of a foreign thread each time
 * that thread calls a Go export. For the process's main thread glibc
 * answers by reading and parsing /proc/self/maps, which makes every call
 * from a host's main thread (Node's event loop, a Python interpreter's
 * main thread) cost about 100 us instead of 100 ns. The main thread's
 * stack does not move, so its answer is remembered here. The definition
 * is hidden: it replaces the libc function for libws's own runtime only,
 * never for the host process. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (*getattr_fn)(pthread_t, pthread_attr_t *);

static getattr_fn real_getattr;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static pthread_once_t main_once = PTHREAD_ONCE_INIT;
static void *main_stack_addr;
static size_t main_stack_size;
static int main_stack_known;

static void find_real(void) { real_getattr = (getattr_fn)dlsym(RTLD_NEXT, "pthread_getattr_np"); }

static void learn_main_stack(void) {
    pthread_attr_t attr;
    if (real_getattr(pthread_self(), &attr) != 0) return;
    if (pthread_attr_getstack(&attr, &main_stack_addr, &main_stack_size) == 0) main_stack_known = 1;
    pthread_attr_destroy(&attr);
}

__attribute__((visibility("hidden"))) int pthread_getattr_np(pthread_t thread, pthread_attr_t *attr) {
    pthread_once(&real_once, find_real);
    if (real_getattr == NULL) return ENOSYS;
    /* -1 unknown, 0 no, 1 yes: asked once per thread, a syscall being
     * what this function exists to save. */
    static __thread int self_is_main = -1;
    if (self_is_main < 0) self_is_main = syscall(SYS_gettid) == getpid();
    if (!self_is_main || !pthread_equal(thread, pthread_self())) return real_getattr(thread, attr);
    pthread_once(&main_once, learn_main_stack);
    if (!main_stack_known) return real_getattr(thread, attr);
    int rc = pthread_attr_init(attr);
    if (rc == 0) rc = pthread_attr_setstack(attr, main_stack_addr, main_stack_size);
    return rc;
}
