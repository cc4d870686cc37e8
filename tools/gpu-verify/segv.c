/* A crash reporter to preload (LD_PRELOAD) into a bench on the GPU host: on SIGSEGV, SIGBUS or
   SIGABRT it writes the faulting thread's backtrace (module + offset, resolve them here with
   `addr2line -f -e BINARY OFFSET` against the same unstripped build) and /proc/self/maps to
   stderr, then dies of the same signal. Rust's std installs its own SIGSEGV handler only where
   the handler is still the default, so this one stays in place. prepare.sh builds it into
   .gpudata/dbg/ beside an unstripped copy of the sampler bench (sample-ab.sh's SAMPLE_AB_*). */
#define _GNU_SOURCE
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  char buf[256];
  void *frames[64];
  int n = snprintf(buf, sizeof buf, "\n=== SIGNAL %d addr %p tid %ld\n", sig, si->si_addr,
                   (long)syscall(SYS_gettid));
  if (write(2, buf, (size_t)n) < 0) return;
  backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
  int fd = open("/proc/self/maps", O_RDONLY);
  if (fd >= 0) {
    ssize_t r;
    if (write(2, "=== maps\n", 9) < 0) return;
    while ((r = read(fd, buf, sizeof buf)) > 0)
      if (write(2, buf, (size_t)r) < 0) break;
    close(fd);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

__attribute__((constructor)) static void install(void) {
  struct sigaction s;
  memset(&s, 0, sizeof s);
  s.sa_sigaction = report;
  s.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &s, 0);
  sigaction(SIGBUS, &s, 0);
  sigaction(SIGABRT, &s, 0);
}
