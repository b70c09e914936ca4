/*
 * health.c — GET /health (liveness and load, no key needed) and GET /metrics (Prometheus text:
 * requests, tokens in and out, queue depth, busy slots, throughput, time to first token).
 */
#include <stdio.h>

#include "server/srv.h"

enum MHD_Result gptc_srv_ep_health(srv_req *r)
{
    gptc_server *s = r->srv;
    int queued, busy;
    gptc_srv_sched_counts(&s->sched, &queued, &busy);
    int draining = atomic_load(&s->draining);
    json_t *o =
        json_pack("{s:s, s:i, s:i, s:i}", "status", draining ? "shutting_down" : "ok", "slots_idle",
                  s->sched.n_slots - busy, "slots_processing", busy, "queue", queued);
    return gptc_srv_reply_json(r, draining ? 503 : 200, o);
}

enum MHD_Result gptc_srv_ep_metrics(srv_req *r)
{
    static const char *k_ep[EP_COUNT] = {
        "chat",  "completions", "embeddings", "models",   "health", "metrics", "other",
        "files", "batches",     "responses",  "messages", "util",   "ui"};
    static const char *k_cls[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    static const double k_le[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    gptc_server *s = r->srv;
    srv_metrics *m = &s->metrics;
    int queued, busy;
    gptc_srv_sched_counts(&s->sched, &queued, &busy);
    srv_buf b = {0};
    char line[256];
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(line, sizeof line, __VA_ARGS__);                                         \
        if (n_ > 0)                                                                                \
            gptc_srv_buf_add(&b, line, (size_t)n_ < sizeof line ? (size_t)n_ : sizeof line - 1);   \
    } while (0)
    OUT("# HELP gptc_requests_total HTTP requests answered, by endpoint and status class.\n");
    OUT("# TYPE gptc_requests_total counter\n");
    pthread_mutex_lock(&m->mu);
    for (int e = 0; e < EP_COUNT; e++)
        for (int c = 0; c < 6; c++)
            if (m->req[e][c])
                OUT("gptc_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n", k_ep[e], k_cls[c],
                    (unsigned long long)m->req[e][c]);
    OUT("# HELP gptc_time_to_first_token_seconds From submission to the first generated token.\n");
    OUT("# TYPE gptc_time_to_first_token_seconds histogram\n");
    for (int i = 0; i < 11; i++)
        OUT("gptc_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", k_le[i],
            (unsigned long long)m->ttft_bucket[i]);
    OUT("gptc_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)m->ttft_count);
    OUT("gptc_time_to_first_token_seconds_sum %.6f\n", m->ttft_sum);
    OUT("gptc_time_to_first_token_seconds_count %llu\n", (unsigned long long)m->ttft_count);
    pthread_mutex_unlock(&m->mu);
    OUT("# HELP gptc_prompt_tokens_total Prompt tokens decoded (not counting reused prefixes).\n");
    OUT("# TYPE gptc_prompt_tokens_total counter\ngptc_prompt_tokens_total %llu\n",
        (unsigned long long)atomic_load(&m->prompt_tokens));
    OUT("# HELP gptc_prompt_tokens_cached_total Prompt tokens taken from the prefix cache.\n");
    OUT("# TYPE gptc_prompt_tokens_cached_total counter\ngptc_prompt_tokens_cached_total %llu\n",
        (unsigned long long)atomic_load(&m->cached_tokens));
    OUT("# HELP gptc_generated_tokens_total Tokens generated.\n");
    OUT("# TYPE gptc_generated_tokens_total counter\ngptc_generated_tokens_total %llu\n",
        (unsigned long long)atomic_load(&m->gen_tokens));
    OUT("# HELP gptc_requests_cancelled_total Generation requests stopped because the client "
        "went away (closed the connection or aborted the stream).\n");
    OUT("# TYPE gptc_requests_cancelled_total counter\ngptc_requests_cancelled_total %llu\n",
        (unsigned long long)atomic_load(&m->cancelled));
    OUT("# HELP gptc_decode_steps_total Batched decode steps.\n");
    OUT("# TYPE gptc_decode_steps_total counter\ngptc_decode_steps_total %llu\n",
        (unsigned long long)atomic_load(&m->steps));
    OUT("# HELP gptc_decode_seconds_total Time spent in decode steps.\n");
    OUT("# TYPE gptc_decode_seconds_total counter\ngptc_decode_seconds_total %.6f\n",
        atomic_load(&m->decode_us) * 1e-6);
    OUT("# HELP gptc_generation_tokens_per_second Generated tokens per second over the last "
        "second.\n");
    OUT("# TYPE gptc_generation_tokens_per_second gauge\ngptc_generation_tokens_per_second %.3f\n",
        atomic_load(&m->tok_per_s_x1000) * 1e-3);
    {
        unsigned long long dr = atomic_load(&m->spec_drafted), ac = atomic_load(&m->spec_accepted),
                           st = atomic_load(&m->spec_steps);
        OUT("# HELP gptc_spec_draft_tokens_total Draft tokens verified (speculative decoding).\n");
        OUT("# TYPE gptc_spec_draft_tokens_total counter\ngptc_spec_draft_tokens_total %llu\n", dr);
        OUT("# HELP gptc_spec_accepted_tokens_total Draft tokens accepted.\n");
        OUT("# TYPE gptc_spec_accepted_tokens_total counter\ngptc_spec_accepted_tokens_total "
            "%llu\n",
            ac);
        OUT("# HELP gptc_spec_acceptance_rate Accepted / verified draft tokens since start.\n");
        OUT("# TYPE gptc_spec_acceptance_rate gauge\ngptc_spec_acceptance_rate %.4f\n",
            dr ? (double)ac / (double)dr : 0.0);
        OUT("# HELP gptc_spec_tokens_per_step Tokens a slot gets from one decode step that "
            "verified a draft (the speed-up bound).\n");
        OUT("# TYPE gptc_spec_tokens_per_step gauge\ngptc_spec_tokens_per_step %.4f\n",
            st ? (double)(ac + st) / (double)st : 0.0);
        OUT("# HELP gptc_kv_cells_held KV positions the slots' sequences hold after the last "
            "step.\n");
        OUT("# TYPE gptc_kv_cells_held gauge\ngptc_kv_cells_held %lld\n",
            (long long)atomic_load(&m->kv_cells));
        OUT("# HELP gptc_slot_tokens_cached Tokens the slots' caches hold (equal to "
            "gptc_kv_cells_held between steps).\n");
        OUT("# TYPE gptc_slot_tokens_cached gauge\ngptc_slot_tokens_cached %lld\n",
            (long long)atomic_load(&m->slot_tokens));
    }
    OUT("# HELP gptc_queue_depth Requests waiting for a slot.\n");
    OUT("# TYPE gptc_queue_depth gauge\ngptc_queue_depth %d\n", queued);
    OUT("# HELP gptc_slots_busy Slots running a request.\n");
    OUT("# TYPE gptc_slots_busy gauge\ngptc_slots_busy %d\n", busy);
    OUT("# HELP gptc_slots Slots (sequences decoded together).\n");
    OUT("# TYPE gptc_slots gauge\ngptc_slots %d\n", s->sched.n_slots);
#undef OUT
    enum MHD_Result ret =
        gptc_srv_reply_text(r, 200, "text/plain; version=0.0.4", b.p ? b.p : "", b.n);
    gptc_srv_buf_free(&b);
    return ret;
}
