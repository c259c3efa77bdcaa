#ifndef COSMICAC_CSYSTEM_H
#define COSMICAC_CSYSTEM_H
/* System calls and constants that Glibc's Swift overlay does not expose, and non-variadic
   wrappers for the variadic ones (Swift cannot call C variadic functions). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- epoll ---- */
static inline int cs_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int cs_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev;
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(epfd, op, fd, &ev);
}
/* Waits for events; copies them into the parallel arrays `events` and `data`. */
static inline int cs_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms) {
  struct epoll_event evs[256];
  if (max > 256) max = 256;
  int n = epoll_wait(epfd, evs, max, timeout_ms);
  for (int i = 0; i < n; i++) {
    events[i] = evs[i].events;
    data[i] = evs[i].data.u64;
  }
  return n;
}
static const uint32_t CS_EPOLLIN = EPOLLIN;
static const uint32_t CS_EPOLLOUT = EPOLLOUT;
static const uint32_t CS_EPOLLERR = EPOLLERR;
static const uint32_t CS_EPOLLHUP = EPOLLHUP;
static const uint32_t CS_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t CS_EPOLLET = EPOLLET;

/* ---- eventfd ---- */
static inline int cs_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/* ---- sockets ---- */
/* accept4 is a GNU extension; declared here so the header needs no _GNU_SOURCE. */
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
static inline int cs_socket(int domain, int type) {
  return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}
static inline int cs_accept4(int fd, struct sockaddr_storage *addr, socklen_t *len) {
  return accept4(fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
static inline int cs_bind(int fd, const struct sockaddr_storage *addr, socklen_t len) {
  return bind(fd, (const struct sockaddr *)addr, len);
}
static inline int cs_connect(int fd, const struct sockaddr_storage *addr, socklen_t len) {
  return connect(fd, (const struct sockaddr *)addr, len);
}
static inline int cs_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *len) {
  return getsockname(fd, (struct sockaddr *)addr, len);
}
static inline int cs_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *len) {
  return getpeername(fd, (struct sockaddr *)addr, len);
}
static inline int cs_setsockopt_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}
static inline int cs_getsockopt_int(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0) return -errno;
  return value;
}
static inline ssize_t cs_sendto(int fd, const void *buf, size_t len, const struct sockaddr_storage *addr,
                                socklen_t alen) {
  return sendto(fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)addr, alen);
}
static inline ssize_t cs_recvfrom(int fd, void *buf, size_t len, struct sockaddr_storage *addr, socklen_t *alen) {
  return recvfrom(fd, buf, len, 0, (struct sockaddr *)addr, alen);
}
static inline ssize_t cs_send(int fd, const void *buf, size_t len) { return send(fd, buf, len, MSG_NOSIGNAL); }
static inline ssize_t cs_writev(int fd, const struct iovec *iov, int count) {
  struct msghdr msg = {0};
  msg.msg_iov = (struct iovec *)iov;
  msg.msg_iovlen = count;
  return sendmsg(fd, &msg, MSG_NOSIGNAL);
}
/* Fills `addr` from a numeric IPv4 or IPv6 host; returns the address length or 0 when not numeric. */
static inline socklen_t cs_make_address(const char *host, int port, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof(*addr));
  struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return sizeof(struct sockaddr_in);
  }
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return sizeof(struct sockaddr_in6);
  }
  return 0;
}
/* Resolves `host` (a name) to its first IPv4 or IPv6 address; returns the length or 0. Blocking. */
static inline socklen_t cs_resolve_address(const char *host, int port, struct sockaddr_storage *addr) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) return 0;
  socklen_t len = 0;
  for (struct addrinfo *p = res; p != NULL; p = p->ai_next) {
    if (p->ai_family == AF_INET || p->ai_family == AF_INET6) {
      memcpy(addr, p->ai_addr, p->ai_addrlen);
      len = p->ai_addrlen;
      if (p->ai_family == AF_INET) ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
      else ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
      break;
    }
  }
  freeaddrinfo(res);
  return len;
}
/* Writes the numeric host of `addr` into `out` (>= 64 bytes) and returns the port, or -1. */
static inline int cs_address_parts(const struct sockaddr_storage *addr, char *out, size_t outlen) {
  if (addr->ss_family == AF_INET) {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)addr;
    inet_ntop(AF_INET, &a4->sin_addr, out, (socklen_t)outlen);
    return ntohs(a4->sin_port);
  }
  if (addr->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
    inet_ntop(AF_INET6, &a6->sin6_addr, out, (socklen_t)outlen);
    return ntohs(a6->sin6_port);
  }
  return -1;
}

/* ---- variadic wrappers ---- */
static inline int cs_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
static inline int cs_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int cs_fcntl_setfd(int fd, int flags) { return fcntl(fd, F_SETFD, flags); }
static inline int cs_ioctl_int(int fd, unsigned long request, int *value) { return ioctl(fd, request, value); }
static inline int cs_ioctl_winsize(int fd, unsigned long request, struct winsize *ws) {
  return ioctl(fd, request, ws);
}
static inline int cs_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }

/* ---- signals and terminals ---- */
/* Blocks `signo` in the calling thread and returns a non-blocking signalfd for it, or -1. */
static inline int cs_signalfd_for(int signo) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}
static inline int cs_forkpty(int *amaster, struct winsize *ws) { return forkpty(amaster, NULL, NULL, ws); }

/* ---- misc ---- */
/* Makes standard output line-buffered (so a pipe or file sees each line as it is printed). */
static inline void cs_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
static inline int cs_errno(void) { return errno; }
static inline uint64_t cs_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline uint64_t cs_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* ==== pty, process and terminal shims (owner: H-shell; used by the Shell library) ==== */
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

/* pipe2 is a GNU extension; declared here so the header needs no _GNU_SOURCE. */
extern int pipe2(int fds[2], int flags);

static const unsigned long CS_TIOCSWINSZ = TIOCSWINSZ;
static const unsigned long CS_TIOCGWINSZ = TIOCGWINSZ;

/* The child half of cs_spawn_session: only async-signal-safe calls (the parent is multithreaded). */
static inline void cs_spawn_child_exec(const char *path, char *const argv[], char *const envp[], const char *cwd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < 32; s++) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
  }
#ifdef SYS_close_range
  syscall(SYS_close_range, 3, ~0U, 0);
#endif
  if (cwd != NULL && chdir(cwd) != 0) { (void)chdir("/"); }
  execve(path, argv, envp);
  _exit(127);
}

/* Starts `path` (an absolute path) with `argv` and `envp` in a new session (its own process
   group). With `ws` non-NULL it runs on a new pseudo-terminal (forkpty) of that size and the
   master is stored in *master; with `ws` NULL it gets three pipes and the parent's ends are
   stored in io[0] (its stdin, write end), io[1] (stdout) and io[2] (stderr). The parent's fds are
   non-blocking and close-on-exec. `cwd` may be NULL. Returns the pid, or -1 with errno set. */
static inline int cs_spawn_session(const char *path, char *const argv[], char *const envp[], const char *cwd,
                                   const struct winsize *ws, int *master, int *io) {
  if (ws != NULL) {
    struct winsize size = *ws;
    int fd = -1;
    pid_t pid = forkpty(&fd, NULL, NULL, &size);
    if (pid < 0) return -1;
    if (pid == 0) cs_spawn_child_exec(path, argv, envp, cwd);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *master = fd;
    return pid;
  }
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) { close(in[0]); close(in[1]); return -1; }
  if (pipe2(err, O_CLOEXEC) != 0) { close(in[0]); close(in[1]); close(out[0]); close(out[1]); return -1; }
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(in[0]); close(in[1]); close(out[0]); close(out[1]); close(err[0]); close(err[1]);
    errno = saved;
    return -1;
  }
  if (pid == 0) {
    setsid();
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    cs_spawn_child_exec(path, argv, envp, cwd);
  }
  close(in[0]); close(out[1]); close(err[1]);
  io[0] = in[1]; io[1] = out[0]; io[2] = err[0];
  for (int i = 0; i < 3; i++) fcntl(io[i], F_SETFL, fcntl(io[i], F_GETFL) | O_NONBLOCK);
  return pid;
}

/* A pidfd for `pid` (readable once it exits), or -1. */
static inline int cs_pidfd_open(int pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  errno = ENOSYS;
  return -1;
#endif
}

/* Reaps `pid` without blocking: returns 1 and the exit code in *code (128 + signal when killed),
   0 while it runs, -1 on error. */
static inline int cs_reap(int pid, int *code) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0) return 0;
  if (r < 0) return -1;
  if (WIFEXITED(status)) *code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) *code = 128 + WTERMSIG(status);
  else *code = 255;
  return 1;
}

/* Puts terminal `fd` in raw mode, saving its settings in *saved. Returns 0 or -1. */
static inline int cs_tty_raw(int fd, struct termios *saved) {
  if (tcgetattr(fd, saved) != 0) return -1;
  struct termios raw = *saved;
  cfmakeraw(&raw);
  return tcsetattr(fd, TCSADRAIN, &raw);
}
/* Restores settings saved by cs_tty_raw. */
static inline int cs_tty_restore(int fd, const struct termios *saved) { return tcsetattr(fd, TCSADRAIN, saved); }
/* Installs a SIGWINCH handler that writes a byte to a non-blocking pipe; returns the pipe's read
   end (readable after every window-size change), or -1. Call once per process. */
int cs_winch_pipe(void);
/* ==== end of the pty, process and terminal shims ==== */

#endif
