// Linux headers that Glibc's Swift module does not cover: epoll, eventfd, TCP options, Unix sockets, getrandom.
#ifndef WISP_CSYSTEM_H
#define WISP_CSYSTEM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/random.h>

// accept4 is declared only under _GNU_SOURCE, which the Glibc module does not set.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
#endif
