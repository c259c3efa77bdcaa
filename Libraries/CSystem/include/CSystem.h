#ifndef COSMICAC_CSYSTEM_H
#define COSMICAC_CSYSTEM_H
/* System calls and constants that Glibc's Swift overlay does not expose. Filled in by Net. */
#include <sys/epoll.h>
#endif
