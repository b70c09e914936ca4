/*
 * train_ui.h — the training dashboard's server (`gptc train --ui`): the page (web/train.html)
 * and GET /events, a server-sent-event stream of the run's records (the JSON objects that
 * `--log FILE.jsonl` writes, one per event; a new client gets every record so far, then the
 * new ones as they come).
 */
#ifndef GPTC_SERVER_TRAIN_UI_H
#define GPTC_SERVER_TRAIN_UI_H

#include <stddef.h>

#include "gptc.h"

typedef struct gptc_train_ui gptc_train_ui;

/* Listen on host:port (port 0: a free one). OUT: owned, free with gptc_train_ui_free. */
gptc_status gptc_train_ui_start(const char *host, int port, gptc_train_ui **out, gptc_err *err);
int gptc_train_ui_port(const gptc_train_ui *u);
/* Add one record (a JSON object, no newline) and send it to every client. Records past
 * GPTC_TRAIN_UI_MAX_RECORDS are kept only when they are not per-step losses (evaluations,
 * samples, the end); returns -1 when out of memory (the record is dropped), else 0. */
#define GPTC_TRAIN_UI_MAX_RECORDS 200000
int gptc_train_ui_push(gptc_train_ui *u, const char *json, size_t n);
/* Finish the streams (clients get every record first), stop listening, free. */
void gptc_train_ui_free(gptc_train_ui *u);

#endif
