/*
 * deadline.h — bounded waits on a condition variable: the one place that turns "at most ms
 * milliseconds from now" into the absolute CLOCK_REALTIME time pthread_cond_timedwait takes
 * (the clock of a condition variable made with default attributes).
 */
#ifndef GPTC_DEADLINE_H
#define GPTC_DEADLINE_H

#include <pthread.h>
#include <time.h>

/* Now + ms on CLOCK_REALTIME, normalised (0 <= tv_nsec < 1e9). ms >= 0. */
struct timespec gptc_deadline_ms(long ms);
/* pthread_cond_timedwait(cv, mu) until gptc_deadline_ms(ms); mu must be held. Returns its
 * result: 0 when signalled (or woken spuriously), ETIMEDOUT when the time ran out. */
int gptc_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms);

#endif
