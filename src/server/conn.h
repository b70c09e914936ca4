/*
 * conn.h — what http.c (routing, the watchdog, start/stop) and admission.c (the accept thread)
 * share about a connection. Private to src/server.
 */
#ifndef GPTC_SRV_CONN_H
#define GPTC_SRV_CONN_H

#include <stddef.h>
#include <sys/socket.h>

/* What a connection owes us: the head of its first request (deadline header_timeout_ms, then
 * 408), a body (body_timeout_ms, 408), nothing while we answer, or, between keep-alive requests,
 * a next request (idle_timeout_s, then a silent close, as for any idle keep-alive connection). */
enum { PH_HEAD = 0, PH_BODY, PH_BUSY, PH_IDLE };

/* The watchdog's record of one connection. */
struct srv_conn {
    int fd;
    int phase;    /* PH_*: what the client owes us */
    double t;     /* when that phase began */
    int path_nul; /* the current request's raw path has %00 (the decoded one is cut there) */
    int got_uri;  /* a request line arrived on this connection (it is not idle since connect) */
    struct sockaddr_storage addr; /* the client's address */
    int outq; /* bytes in the socket's send queue at the last look, and when it last moved */
    double t_outq;
    int killed; /* a 408 was written; 2: the socket was shut down */
    double t_killed;
    struct srv_conn *prev, *next;
};

/* 1 when a Content-Length header of the complete head h[0..n) is not a plain decimal number
 * below 10^18 ("abc", "-1", "1x", 2^64 + 1, empty). (http.c) */
int gptc_srv_head_cl_bad(const char *h, size_t n);

/* The accept thread (arg: the gptc_server): admits connections within the limits and hands them
 * to libmicrohttpd until the server stops. (admission.c) */
void *gptc_srv_accept_main(void *arg);

#endif
