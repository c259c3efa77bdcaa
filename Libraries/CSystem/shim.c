// The shim is header-only (static inline wrappers); this file gives SwiftPM a C source to compile.
#include "CSystem.h"

/* ==== SIGWINCH self-pipe (owner: H-shell; used by the Shell library's terminal client) ==== */
static int cs_winch_write_fd = -1;

static void cs_winch_handler(int signo) {
  (void)signo;
  int saved = errno;
  char byte = 1;
  (void)write(cs_winch_write_fd, &byte, 1);
  errno = saved;
}

int cs_winch_pipe(void) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  cs_winch_write_fd = fds[1];
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = cs_winch_handler;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGWINCH, &action, NULL) != 0) return -1;
  return fds[0];
}
/* ==== end of the SIGWINCH self-pipe ==== */
