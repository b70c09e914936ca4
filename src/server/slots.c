/*
 * slots.c — the scheduler: continuous batching of every request over one gptc_ctx.
 *
 * One thread owns the context. It keeps n_slots slots, slot i decoding sequence id i; all
 * sequences share the context's KV cells (a sequence holds as many cells as it has tokens, not a
 * fixed slice). Each step is one gptc_decode carrying one token for every generating slot plus
 * prompt chunks of newly admitted requests (up to n_batch tokens in all), then one sampled token
 * per slot whose logits came back. Requests join between steps.
 *
 * Admission: a bounded FIFO queue. The head is admitted when enough slots are idle (n of them
 * for a request with n choices) and its worst case fits the cells that admitted requests have
 * not reserved (prompt + n x max_tokens), so a running request never finds the cache full;
 * idle slots' cached sequences are evicted (least recently used first) when a step needs their
 * cells.
 *
 * Prefix reuse: a finished slot keeps its sequence in the cache. A new prompt goes to the idle
 * slot whose cached tokens share the longest prefix with it; when another slot (running or
 * idle) shares a longer one, those cells are copied with gptc_kv_seq_cp instead (no compute,
 * only sequence bits). Only the rest of the prompt is decoded. For n > 1 the prompt is decoded
 * once by the first choice's slot and copied to the others. A hybrid model's recurrent state can
 * only be cut where a checkpoint was saved (gptc_kv_seq_cut): its prefill stops one token
 * before the end of each prompt to save one there, and a reused prefix is shortened to the
 * nearest checkpoint (the rest is decoded again).
 *
 * Speculative decoding (docs/speculative.md): a generating slot whose request asks for it
 * carries, after its sampled token, up to spec_n draft tokens (prompt lookup over its own
 * tokens, or the draft model's greedy guesses) with logits for all; its tokens are then sampled
 * row by row against the drafts (gptc_sampler_sample_draft) until one is not the draft, and the
 * cells of the drafts not taken are removed before the step ends, so between steps (where
 * cancellation and admission happen) a sequence holds exactly its cache's tokens. Drafts never
 * reach past max_tokens, so they stay inside the request's reservation.
 *
 * Cancellation: the HTTP side sets job->cancelled; the next step ends the job's slots.
 */
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/deadline.h"
#include "sample/stop.h"
#include "chat/think_budget.h"
#include "server/srv.h"

enum { SLOT_IDLE = 0, SLOT_PREFILL, SLOT_GEN, SLOT_FOLLOW };

struct srv_slot {
    int seq;      /* sequence id = slot index */
    int state;    /* SLOT_* */
    srv_job *job; /* NULL when idle */
    int choice;
    int leader;     /* FOLLOW: the slot that decodes the shared prompt */
    int32_t *cache; /* (n_ctx_seq) tokens of this sequence in the KV cache, by position */
    int n_cache;
    const int32_t *prompt; /* borrowed from the job */
    int n_prompt;
    int32_t next;      /* GEN: the sampled token to decode at the next step */
    int32_t draft[64]; /* this step: the draft tokens after next */
    int n_draft;
    int spec_cur;      /* the draft length now (halved after a step accepting none, doubled after
                        * one accepting all, within 1..spec_n) */
    int bidx;          /* this step: batch index of its logits, or -1 */
    int chunk;         /* this step: prompt tokens in the batch */
    gptc_sampler *smp; /* owned while busy */
    gptc_grammar *gr;  /* owned while busy, when the job has a grammar */
    gptc_think_budget tb;
    int32_t forced[16]; /* tokens to generate instead of sampling (the forced </think>) */
    int n_forced, i_forced;
    gptc_detok dt;
    float *lg, *lg2; /* (V) logits after bias; lg2: untouched copy for logprobs */
    uint64_t used;   /* scheduler clock at last use (LRU) */
};

static void logf_(srv_sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(srv_sched *s, const char *fmt, ...)
{
    if (!s->log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char safe[sizeof line * 4];
    gptc_srv_log_escape(safe, sizeof safe, line);
    s->log(s->log_user, safe);
}

/* ----- jobs ----------------------------------------------------------------------------------- */

srv_job *gptc_srv_job_new(int kind, int n_choices)
{
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->choices = calloc((size_t)n_choices, sizeof *j->choices);
    if (!j->choices) {
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->kind = kind;
    j->n_choices = n_choices;
    j->client_fd = -1;
    j->think_budget = -1;
    j->lazy_id = -1;
    atomic_init(&j->cancelled, 0);
    return j;
}

void gptc_srv_job_release(srv_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    for (int i = 0; i < j->n_choices; i++) {
        srv_choice *c = &j->choices[i];
        free(c->prompt);
        free(c->text);
        free(c->lp);
        free(c->embd);
    }
    free(j->choices);
    free(j->prompt);
    free(j->bias_id);
    free(j->bias);
    free(j->grammar);
    free(j->tc_prefix);
    free(j->lazy_trigger);
    json_decref(j->tc_names);
    json_decref(j->tc_tools);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void gptc_srv_job_cancel(srv_job *j)
{
    atomic_store(&j->cancelled, 1);
}

/* ----- queue (any thread) ----------------------------------------------------------------------
 */

int gptc_srv_sched_submit(srv_sched *s, srv_job *j, srv_error *e)
{
    pthread_mutex_lock(&s->mu);
    if (s->draining || s->stop) {
        pthread_mutex_unlock(&s->mu);
        gptc_srv_fail(e, 503, "server_shutting_down", NULL, "the server is shutting down");
        e->retry_after = 5;
        return -1;
    }
    if (s->embed_only && j->kind != JOB_EMBED) {
        pthread_mutex_unlock(&s->mu);
        return gptc_srv_fail(e, 400, "model_not_supported", "model",
                             "this server runs an embedding model: only /v1/embeddings is served");
    }
    if (j->low) { /* batch work: its own queue, bounded by the batch manager */
        pthread_mutex_lock(&j->mu);
        j->refs++;
        pthread_mutex_unlock(&j->mu);
        j->t_submit = gptc_srv_now();
        j->next = NULL;
        if (s->lq_tail)
            s->lq_tail->next = j;
        else
            s->lq_head = j;
        s->lq_tail = j;
        s->lq_len++;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->t_interactive = gptc_srv_now();
    /* the queue holds q_max requests beyond those that idle slots will take at the next step */
    if (s->q_len >= s->q_max + (s->n_slots - s->n_busy_slots)) {
        int q = s->q_len;
        pthread_mutex_unlock(&s->mu);
        gptc_srv_fail(e, 429, "rate_limit_exceeded", NULL,
                      "the server is busy: %d requests are waiting (retry later)", q);
        e->retry_after = 1;
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
    j->t_submit = gptc_srv_now();
    j->next = NULL;
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->q_len++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void gptc_srv_sched_drain(srv_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    pthread_mutex_unlock(&s->mu);
}

int gptc_srv_sched_pending(srv_sched *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->q_len + s->lq_len + s->n_active_jobs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void gptc_srv_sched_counts(srv_sched *s, int *queued, int *busy)
{
    pthread_mutex_lock(&s->mu);
    *queued = s->q_len;
    *busy = s->n_busy_slots;
    pthread_mutex_unlock(&s->mu);
}

/* ----- slots (scheduler thread) ----------------------------------------------------------------
 */

static int lcp(const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static int n_idle(const srv_sched *s)
{
    int n = 0;
    for (int i = 0; i < s->n_slots; i++)
        n += s->slots[i].state == SLOT_IDLE;
    return n;
}

/* The least recently used idle slot, preferring ones whose cache is empty. */
static srv_slot *idle_lru(srv_sched *s)
{
    srv_slot *best = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE) continue;
        if (!best || (sl->n_cache == 0) > (best->n_cache == 0) ||
            ((sl->n_cache == 0) == (best->n_cache == 0) && sl->used < best->used))
            best = sl;
    }
    return best;
}

/* Free the cells of the least recently used idle slot's cached sequence. 0: nothing to free. */
static int evict_one(srv_sched *s)
{
    srv_slot *v = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        if (sl->state == SLOT_IDLE && sl->n_cache > 0 && (!v || sl->used < v->used)) v = sl;
    }
    if (!v) return 0;
    gptc_kv_seq_rm(s->ctx, v->seq, 0, -1);
    v->n_cache = 0;
    return 1;
}

static void set_busy(srv_sched *s, int delta)
{
    pthread_mutex_lock(&s->mu);
    s->n_busy_slots += delta;
    pthread_mutex_unlock(&s->mu);
}

/* Publish "job ended" when every choice has; drop the scheduler's reference. */
static void job_end_if_done(srv_sched *s, srv_job *j)
{
    pthread_mutex_lock(&j->mu);
    int all = j->n_ended == j->n_choices;
    if (all) j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (!all) return;
    if (j->notify_mu) {
        pthread_mutex_lock(j->notify_mu);
        pthread_cond_broadcast(j->notify_cv);
        pthread_mutex_unlock(j->notify_mu);
    }
    for (int i = 0; i < s->n_active; i++) {
        if (s->active[i] != j) continue;
        memmove(&s->active[i], &s->active[i + 1],
                (size_t)(s->n_active - i - 1) * sizeof *s->active);
        s->n_active--;
        break;
    }
    if (j->kind == JOB_GENERATE) s->reserved -= j->reserve;
    pthread_mutex_lock(&s->mu);
    s->n_active_jobs--;
    pthread_mutex_unlock(&s->mu);
    gptc_srv_job_release(j);
}

/* Append to a choice's text (under job->mu); -1 when out of memory. */
static int text_add(srv_choice *c, const char *p, size_t n)
{
    if (!n) return 0;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->len + n)
            cap *= 2;
        char *t = realloc(c->text, cap);
        if (!t) return -1;
        c->text = t;
        c->cap = cap;
    }
    memcpy(c->text + c->len, p, n);
    c->len += n;
    return 0;
}

/* End a slot's choice (reason FINISH_*); the slot becomes idle and keeps its cache (a generate
 * prompt is worth reusing; an embedding input is dropped). */
static void slot_end(srv_sched *s, srv_slot *sl, int reason)
{
    srv_job *j = sl->job;
    srv_choice *c = &j->choices[sl->choice];
    pthread_mutex_lock(&j->mu);
    if (c->finish == FINISH_NONE) { /* not a stop string (that cut the text already) */
        c->finish = reason;
        if (reason == FINISH_LENGTH || reason == FINISH_STOP) {
            char tail[16];
            size_t nt = gptc_detok_flush(&sl->dt, tail, sizeof tail);
            text_add(c, tail, nt);
        }
        c->n_ready = c->len; /* no stop string can complete now: what was held back is final */
    }
    j->n_ended++;
    pthread_mutex_unlock(&j->mu);
    if (j->kind == JOB_EMBED) {
        s->reserved -= c->n_prompt;
        gptc_kv_seq_rm(s->ctx, sl->seq, 0, -1);
        sl->n_cache = 0;
    }
    gptc_sampler_free(sl->smp);
    sl->smp = NULL;
    gptc_grammar_free(sl->gr);
    sl->gr = NULL;
    sl->job = NULL;
    sl->state = SLOT_IDLE;
    sl->used = s->clock;
    set_busy(s, -1);
    job_end_if_done(s, j);
}

/* End every slot of a job (cancelled or failed), and inputs not yet started. */
static void job_abort(srv_sched *s, srv_job *j, int reason)
{
    int in_slots = 0;
    for (int i = 0; i < s->n_slots; i++)
        in_slots += s->slots[i].job == j;
    /* choices that never reached a slot end here; the last slot_end then ends the job */
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_choices; i++) {
        int in_slot = 0;
        for (int k = 0; k < s->n_slots; k++)
            in_slot |= s->slots[k].job == j && s->slots[k].choice == i;
        if (!in_slot && j->choices[i].finish == FINISH_NONE) {
            j->choices[i].finish = reason;
            j->n_ended++;
        }
    }
    if (j->kind == JOB_EMBED) j->next_choice = j->n_choices;
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].job == j) slot_end(s, &s->slots[i], reason);
    if (!in_slots) job_end_if_done(s, j);
}

static void job_fail(srv_sched *s, srv_job *j, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    j->failed = 1;
    snprintf(j->fail_msg, sizeof j->fail_msg, "%s", msg);
    pthread_mutex_unlock(&j->mu);
    logf_(s, "scheduler: request failed: %s", msg);
    job_abort(s, j, FINISH_ERROR);
}

/* Make sl run choice ci of j; 0 ok, -1 out of memory. */
static int slot_take(srv_sched *s, srv_slot *sl, srv_job *j, int ci, int state)
{
    sl->job = j;
    sl->choice = ci;
    sl->state = state;
    sl->bidx = -1;
    sl->chunk = 0;
    sl->used = s->clock;
    gptc_detok_init(&sl->dt);
    set_busy(s, +1);
    if (j->kind == JOB_GENERATE) {
        sl->prompt = j->prompt;
        sl->n_prompt = j->n_prompt;
        gptc_sampler_params sp = j->sp;
        sp.seed = j->sp.seed + (uint64_t)ci;
        gptc_err err;
        if (gptc_sampler_init(&sp, s->n_vocab, &sl->smp, &err)) return -1;
        if (j->grammar) {
            if (!s->gvocab && gptc_gvocab_from_tokenizer(s->tok, &s->gvocab, &err)) return -1;
            if (gptc_grammar_from_gbnf(s->gvocab, j->grammar, j->grammar_len, NULL, &sl->gr, &err))
                return -1;
            if (j->lazy_trigger &&
                gptc_grammar_set_lazy(sl->gr, j->lazy_trigger, strlen(j->lazy_trigger), j->lazy_id,
                                      j->lazy_think, &err))
                return -1;
        }
        gptc_think_budget_init(&sl->tb, j->think_budget, j->tc_think == 2);
        sl->n_draft = 0;
        sl->spec_cur = j->spec_n;
        sl->n_forced = sl->i_forced = 0;
        if (j->logprobs) { /* the stream reads c->lp under j->mu */
            srv_lp *lp = calloc((size_t)j->max_tokens, sizeof *lp);
            if (!lp) return -1;
            pthread_mutex_lock(&j->mu);
            j->choices[ci].lp = lp;
            pthread_mutex_unlock(&j->mu);
        }
    } else {
        sl->prompt = j->choices[ci].prompt;
        sl->n_prompt = j->choices[ci].n_prompt;
    }
    return 0;
}

/* How much of j's prompt slot sl's cached sequence can give: the shared prefix, less the
 * prompt's last token (decoded again for its logits), cut back to a checkpoint for a hybrid
 * model. */
static int usable_prefix(srv_sched *s, const srv_slot *sl, const srv_job *j)
{
    int l = SRV_MIN(lcp(sl->cache, sl->n_cache, j->prompt, j->n_prompt), j->n_prompt - 1);
    if (l <= 0) return l;
    return s->recurrent ? gptc_kv_seq_cut(s->ctx, sl->seq, l) : l;
}

static void admit_generate(srv_sched *s, srv_job *j)
{
    /* the leader: the idle slot whose own cache shares most of the prompt (LRU on ties) */
    srv_slot *L = NULL;
    int own = -1;
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE) continue;
        int l = usable_prefix(s, sl, j);
        if (l > own || (l == own && sl->used < L->used)) {
            L = sl;
            own = l;
        }
    }
    /* a longer shared prefix in any other sequence, running or cached */
    srv_slot *src = NULL;
    int src_l = own;
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        if (sl == L) continue;
        int l = usable_prefix(s, sl, j);
        if (l > src_l) {
            src = sl;
            src_l = l;
        }
    }
    int keep;
    if (src) {
        keep = src_l;
        gptc_kv_seq_rm(s->ctx, L->seq, 0, -1);
        if (gptc_kv_seq_cp(s->ctx, src->seq, L->seq, 0, keep)) keep = 0; /* after the cut: never */
    } else {
        keep = own;
        if (gptc_kv_seq_rm(s->ctx, L->seq, keep, -1)) keep = -1;
    }
    if (keep < 0) { /* nothing kept: start the sequence over */
        gptc_kv_seq_rm(s->ctx, L->seq, 0, -1);
        keep = 0;
    }
    if (gptc_kv_seq_reusable(s->ctx, L->seq, keep) < keep) { /* the window ring lost it */
        gptc_kv_seq_rm(s->ctx, L->seq, 0, -1);
        keep = 0;
    }
    memcpy(L->cache, j->prompt, (size_t)keep * sizeof *L->cache);
    L->n_cache = keep;
    j->n_cached = keep;
    atomic_fetch_add(&s->metrics->cached_tokens, (unsigned long long)keep);

    s->active[s->n_active++] = j;
    s->reserved += j->reserve;
    int fail = slot_take(s, L, j, 0, SLOT_PREFILL);
    for (int ci = 1; ci < j->n_choices; ci++) {
        srv_slot *f = idle_lru(s);
        gptc_kv_seq_rm(s->ctx, f->seq, 0, -1);
        f->n_cache = 0;
        f->leader = L->seq;
        fail |= slot_take(s, f, j, ci, SLOT_FOLLOW);
    }
    if (fail) job_fail(s, j, "out of memory");
}

/* Hand idle slots to the inputs of an embeddings job. */
static void feed_embed(srv_sched *s, srv_job *j)
{
    while (j->next_choice < j->n_choices) {
        srv_choice *c = &j->choices[j->next_choice];
        srv_slot *sl = idle_lru(s);
        if (!sl || s->reserved + c->n_prompt > s->n_ctx) return;
        gptc_kv_seq_rm(s->ctx, sl->seq, 0, -1); /* also restarts its embedding sum */
        sl->n_cache = 0;
        s->reserved += c->n_prompt;
        pthread_mutex_lock(&j->mu);
        int ci = j->next_choice++;
        pthread_mutex_unlock(&j->mu);
        slot_take(s, sl, j, ci, SLOT_PREFILL);
    }
}

/* Cancel running jobs whose client has gone: one poll() over their sockets per step, so a
 * disconnect ends the request at the next step even while its HTTP thread is busy elsewhere.
 * (A socket number may already belong to a newer connection once the old one closed; the old
 * job is cancelled by its HTTP thread in that case anyway, so a stale look is harmless.) */
static void poll_clients(srv_sched *s)
{
    struct pollfd pfd[64];
    srv_job *who[64];
    int n = 0;
    for (int i = 0; i < s->n_active && n < 64; i++) {
        if (s->active[i]->client_fd < 0) continue;
        pfd[n] = (struct pollfd){.fd = s->active[i]->client_fd, .events = POLLRDHUP};
        who[n++] = s->active[i];
    }
    if (!n || poll(pfd, (nfds_t)n, 0) <= 0) return;
    for (int i = 0; i < n; i++)
        if (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) gptc_srv_job_cancel(who[i]);
}

/* Drop cancelled jobs, admit what fits. */
static void admit(srv_sched *s)
{
    poll_clients(s);
    for (int i = 0; i < s->n_active; i++) {
        srv_job *j = s->active[i];
        if (atomic_load(&j->cancelled)) {
            atomic_fetch_add(&s->metrics->cancelled, 1);
            job_abort(s, j, FINISH_CANCEL);
            i = -1; /* the list changed */
            continue;
        }
    }
    for (int i = 0; i < s->n_active; i++)
        if (s->active[i]->kind == JOB_EMBED) feed_embed(s, s->active[i]);

    for (;;) {
        pthread_mutex_lock(&s->mu);
        /* interactive requests first; batch requests only when none waits, and they leave one
         * slot idle for the next interactive request (when there are more than two) */
        int low = !s->q_head;
        srv_job *j = low ? s->lq_head : s->q_head;
        int spare = low && j && s->n_slots > 2 && j->n_choices < s->n_slots &&
                            gptc_srv_now() - s->t_interactive < 30.0
                        ? 1
                        : 0;
        int ok = 0;
        if (j) {
            if (atomic_load(&j->cancelled))
                ok = 2;
            else if (j->kind == JOB_GENERATE)
                ok = n_idle(s) >= j->n_choices + spare && s->reserved + j->reserve <= s->n_ctx;
            else
                ok = n_idle(s) >= 1 + spare && s->reserved + j->choices[0].n_prompt <= s->n_ctx;
        }
        if (ok && low) {
            s->lq_head = j->next;
            if (!s->lq_head) s->lq_tail = NULL;
            s->lq_len--;
            s->n_active_jobs++;
        } else if (ok) {
            s->q_head = j->next;
            if (!s->q_head) s->q_tail = NULL;
            s->q_len--;
            s->n_active_jobs++;
        }
        pthread_mutex_unlock(&s->mu);
        if (!ok) return;
        if (ok == 2) { /* cancelled while queued */
            s->active[s->n_active++] = j;
            if (j->kind == JOB_GENERATE) s->reserved += j->reserve; /* job_end_if_done returns it */
            atomic_fetch_add(&s->metrics->cancelled, 1);
            job_abort(s, j, FINISH_CANCEL);
            continue;
        }
        if (j->kind == JOB_GENERATE) {
            admit_generate(s, j);
        } else {
            s->active[s->n_active++] = j;
            feed_embed(s, j);
        }
    }
}

/* ----- one step --------------------------------------------------------------------------------
 */

/* log-probabilities from logits (V): the chosen token's and the top k. */
static void fill_logprobs(const float *lg, int V, int32_t id, int k, srv_lp *out)
{
    float mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (lg[i] > mx) mx = lg[i];
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += lg[i] == -INFINITY ? 0.0 : exp((double)lg[i] - mx);
    float lse = mx + (float)log(sum);
    out->id = id;
    out->lp = lg[id] - lse;
    if (out->lp == -INFINITY || isnan(out->lp)) out->lp = -9999.0f; /* JSON has no -inf */
    out->n_top = 0;
    for (int i = 0; i < V && k > 0; i++) { /* top_logprobs 0: no list (top_id[k - 1] is -1) */
        float v = lg[i];
        if (v == -INFINITY) continue;
        int n = out->n_top, p = n < k ? n : k - 1;
        if (n == k && v <= lg[out->top_id[k - 1]]) continue;
        /* insertion into the sorted top list */
        while (p > 0 && lg[out->top_id[p - 1]] < v) {
            out->top_id[p] = out->top_id[p - 1];
            p--;
        }
        out->top_id[p] = i;
        if (n < k) out->n_top++;
    }
    for (int i = 0; i < out->n_top; i++)
        out->top_lp[i] = lg[out->top_id[i]] - lse;
}

/* Scan for stop strings after text grew from old_len to c->len. Returns 1 when one matched
 * (text cut there), else sets n_ready past what no stop string can still claim. */
static int stop_scan(const srv_job *j, srv_choice *c, size_t old_len)
{
    const char *strs[SRV_MAX_STOPS];
    for (int i = 0; i < j->n_stops; i++)
        strs[i] = j->stops[i];
    size_t at = 0, safe = 0;
    int hit = gptc_stop_scan(c->text, c->len, old_len, j->n_stops, strs, j->stop_len, &at, &safe);
    if (hit >= 0) {
        c->stop_hit = hit + 1;
        c->len = at;
        c->n_ready = at;
        return 1;
    }
    if (safe > c->n_ready) c->n_ready = safe;
    return 0;
}

/* Sample the next token of a slot from raw logits and publish it; draft: the draft token these
 * logits verify (-1: none). Returns 1 when the token is the draft and the slot goes on. */
static int slot_sample(srv_sched *s, srv_slot *sl, const float *raw, int32_t draft)
{
    srv_job *j = sl->job;
    srv_choice *c = &j->choices[sl->choice];
    int V = s->n_vocab;
    memcpy(sl->lg, raw, (size_t)V * sizeof *sl->lg);
    for (int i = 0; i < j->n_bias; i++)
        sl->lg[j->bias_id[i]] =
            j->bias[i] <= -100.0f ? -INFINITY : sl->lg[j->bias_id[i]] + j->bias[i];
    if (j->logprobs) memcpy(sl->lg2, sl->lg, (size_t)V * sizeof *sl->lg);
    gptc_err gerr;
    if (sl->i_forced == sl->n_forced && gptc_think_budget_exhausted(&sl->tb)) {
        /* the reasoning budget is spent: close the block (the tokens of the closer) */
        sl->i_forced = 0;
        sl->n_forced = gptc_think_close_tokens(s->tok, sl->forced, 16);
        if (!sl->n_forced) sl->tb.budget = -1; /* cannot spell it: stop counting */
    }
    int forced = sl->i_forced < sl->n_forced;
    if (!forced && sl->gr && gptc_grammar_apply(sl->gr, sl->lg, &gerr)) {
        job_fail(s, j, gerr.msg);
        return 0;
    }
    int32_t id = forced       ? sl->forced[sl->i_forced++]
                 : draft >= 0 ? gptc_sampler_sample_draft(sl->smp, sl->lg, draft, NULL)
                              : gptc_sampler_sample(sl->smp, sl->lg);
    gptc_sampler_accept(sl->smp, id);
    if (sl->gr && gptc_grammar_accept(sl->gr, id, &gerr)) {
        job_fail(s, j, gerr.msg);
        return 0;
    }
    int grammar_done = sl->gr && gptc_grammar_must_end(sl->gr);

    int finish = FINISH_NONE;
    char piece[512];
    size_t n_piece = 0;
    int is_stop_id = !j->ignore_eos && gptc_tok_is_eog(s->tok, id);
    for (int i = 0; i < j->n_stop_ids; i++)
        is_stop_id |= j->stop_ids[i] == id;
    if (is_stop_id) {
        finish = FINISH_STOP;
    } else {
        gptc_err err;
        if (gptc_detok_push(s->tok, &sl->dt, id, piece, sizeof piece, &n_piece, &err)) n_piece = 0;
        gptc_think_budget_push(&sl->tb, piece, n_piece);
    }

    pthread_mutex_lock(&j->mu);
    if (j->logprobs && !is_stop_id && c->n_lp < j->max_tokens)
        fill_logprobs(sl->lg2, V, id, j->top_logprobs, &c->lp[c->n_lp++]);
    c->n_gen++;
    if (!finish && n_piece) {
        size_t old = c->len;
        text_add(c, piece, n_piece);
        if (stop_scan(j, c, old)) {
            finish = FINISH_STOP;
            c->finish = FINISH_STOP; /* the text is cut at the stop string: nothing to flush */
        }
    }
    if (j->t_first == 0 && sl->choice == 0) j->t_first = gptc_srv_now();
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    atomic_fetch_add(&s->metrics->gen_tokens, 1);

    if (!finish && grammar_done) finish = FINISH_STOP;
    if (!finish && (c->n_gen >= j->max_tokens || sl->n_cache >= s->n_ctx_seq))
        finish = FINISH_LENGTH;
    if (finish) {
        slot_end(s, sl, finish);
        return 0;
    }
    sl->next = id;
    sl->state = SLOT_GEN;
    return draft >= 0 && id == draft;
}

/* A slot's draft for this step: up to room tokens to follow its cache and next. */
static int slot_draft(srv_sched *s, srv_slot *sl, int room)
{
    srv_job *j = sl->job;
    if (!j->spec || j->kind != JOB_GENERATE || sl->i_forced < sl->n_forced) return 0;
    srv_choice *c = &j->choices[sl->choice];
    int left = j->max_tokens - c->n_gen - 1; /* drafts stay inside the reservation */
    int seq_room = s->n_ctx_seq - sl->n_cache - 1;
    int n = sl->spec_cur < room ? sl->spec_cur : room;
    n = n < left ? n : left;
    n = n < seq_room ? n : seq_room;
    n = n < 64 ? n : 64;
    if (n <= 0) return 0;
    sl->cache[sl->n_cache] = sl->next; /* the history lookup reads (n_cache < n_ctx_seq) */
    if (j->spec == 1) {
        int lo = j->spec_ngram < 2 ? j->spec_ngram : 2;
        return gptc_spec_lookup(sl->cache, sl->n_cache + 1, lo, j->spec_ngram, sl->draft, n);
    }
    if (!s->drafter) return 0;
    int got = 0;
    gptc_err err;
    if (gptc_drafter_draft(s->drafter, sl->seq, sl->cache, sl->n_cache + 1, sl->draft, n, &got,
                           &err) == GPTC_E_KV_FULL) {
        /* the draft context is full: drop the idle slots' sequences there and try once more */
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].state == SLOT_IDLE) gptc_drafter_forget(s->drafter, s->slots[i].seq);
        if (gptc_drafter_draft(s->drafter, sl->seq, sl->cache, sl->n_cache + 1, sl->draft, n, &got,
                               &err))
            got = 0;
    }
    return got;
}

static void step(srv_sched *s)
{
    int n = 0, budget;
    /* while an interactive request's prompt is being read, batch (low) sequences sit the step
     * out: its first token then waits for one small step, not for one that also carries every
     * batch sequence (batch work yields; it loses one step per interactive arrival) */
    int hold_low = 0;
    for (int i = 0; i < s->n_slots && !hold_low; i++)
        hold_low = s->slots[i].state == SLOT_PREFILL && s->slots[i].job && !s->slots[i].job->low &&
                   s->slots[i].job->kind == JOB_GENERATE;
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        sl->bidx = -1;
        sl->chunk = 0;
        sl->n_draft = 0;
        if (sl->state != SLOT_GEN || (hold_low && sl->job && sl->job->low)) continue;
        s->b_tok[n] = sl->next;
        s->b_pos[n] = sl->n_cache;
        s->b_seq[n] = sl->seq;
        s->b_logits[n] = 1;
        sl->bidx = n++;
        /* drafts: only from what the batch has left after one token for every other
         * generating slot, and never at the cost of a prompt waiting to start */
        int others = 0, waiting = 0;
        for (int k = i + 1; k < s->n_slots; k++) {
            others += s->slots[k].state == SLOT_GEN;
            waiting |= s->slots[k].state == SLOT_PREFILL;
        }
        for (int k = 0; k < i; k++)
            waiting |= s->slots[k].state == SLOT_PREFILL;
        int room = s->n_batch - n - others;
        if (!waiting && room > 0 && sl->job->spec) {
            sl->n_draft = slot_draft(s, sl, room);
            for (int k = 0; k < sl->n_draft; k++) {
                s->b_tok[n] = sl->draft[k];
                s->b_pos[n] = sl->n_cache + 1 + k;
                s->b_seq[n] = sl->seq;
                s->b_logits[n] = 1;
                n++;
            }
        }
    }
    budget = s->n_batch - n;
    /* prompt chunks, oldest request first */
    for (int a = 0; a < s->n_active && budget > 0; a++) {
        for (int i = 0; i < s->n_slots && budget > 0; i++) {
            srv_slot *sl = &s->slots[i];
            if (sl->job != s->active[a] || sl->state != SLOT_PREFILL) continue;
            if (hold_low && sl->job->low) continue;
            int rem = sl->n_prompt - sl->n_cache, k = rem < budget ? rem : budget;
            if (s->embed_only && k < rem) continue; /* whole inputs only: next step */
            /* hybrid: stop before the prompt's last token to checkpoint there (see top) */
            if (s->recurrent && k == rem && k > 1 && sl->job->kind == JOB_GENERATE) k--;
            for (int t = 0; t < k; t++) {
                int p = sl->n_cache + t;
                s->b_tok[n] = sl->prompt[p];
                s->b_pos[n] = p;
                s->b_seq[n] = sl->seq;
                s->b_logits[n] = 0;
                n++;
            }
            sl->chunk = k;
            if (k == rem && sl->job->kind == JOB_GENERATE) {
                s->b_logits[n - 1] = 1;
                sl->bidx = n - 1;
            }
            budget -= k;
        }
    }
    if (n == 0) return;

    gptc_batch b = {.n_tokens = n,
                    .token = s->b_tok,
                    .pos = s->b_pos,
                    .seq_id = s->b_seq,
                    .logits = s->b_logits};
    gptc_err err;
    double t0 = gptc_srv_now();
    gptc_status st;
    /* only a full cache is worth evicting for; a bad token or position fails the step */
    while ((st = gptc_decode(s->ctx, &b, &err)) == GPTC_E_KV_FULL && evict_one(s)) {
    }
    double dt = gptc_srv_now() - t0;
    atomic_fetch_add(&s->metrics->steps, 1);
    atomic_fetch_add(&s->metrics->decode_us, (unsigned long long)(dt * 1e6));
    if (st) {
        /* cannot happen with the reservations; fail the step's requests, keep serving */
        for (int i = 0; i < s->n_slots; i++) {
            srv_slot *sl = &s->slots[i];
            if (sl->job && (sl->bidx >= 0 || sl->chunk > 0)) job_fail(s, sl->job, err.msg);
        }
        return;
    }
    s->clock++;

    /* the cache now holds this step's tokens */
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        if (sl->state == SLOT_GEN && sl->bidx >= 0) {
            sl->cache[sl->n_cache++] = sl->next;
        } else if (sl->state == SLOT_PREFILL && sl->chunk > 0) {
            memcpy(sl->cache + sl->n_cache, sl->prompt + sl->n_cache,
                   (size_t)sl->chunk * sizeof(int32_t));
            sl->n_cache += sl->chunk;
            if (s->recurrent && sl->n_cache == sl->n_prompt - 1)
                gptc_kv_seq_checkpoint(s->ctx, sl->seq);
        }
        if (sl->job) sl->used = s->clock;
    }
    /* outputs */
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        if (!sl->job) continue;
        srv_job *j = sl->job;
        if (j->kind == JOB_EMBED) {
            if (sl->state == SLOT_PREFILL && sl->n_cache == sl->n_prompt) {
                const float *e = gptc_get_embeddings(s->ctx, sl->seq);
                srv_choice *c = &j->choices[sl->choice];
                float *copy = malloc((size_t)s->n_embd * sizeof *copy);
                if (copy && e) memcpy(copy, e, (size_t)s->n_embd * sizeof *copy);
                pthread_mutex_lock(&j->mu);
                c->embd = e ? copy : NULL;
                pthread_mutex_unlock(&j->mu);
                if (!e) free(copy);
                slot_end(s, sl, e && copy ? FINISH_STOP : FINISH_ERROR);
            }
            continue;
        }
        if (sl->bidx < 0) continue;
        const float *raw = gptc_get_logits(s->ctx, sl->bidx);
        if (sl->state == SLOT_PREFILL) {
            atomic_fetch_add(&s->metrics->prompt_tokens,
                             (unsigned long long)(j->n_prompt - j->n_cached));
            /* the followers share the prompt's cells and its last logits */
            for (int f = 0; f < s->n_slots; f++) {
                srv_slot *fl = &s->slots[f];
                if (fl->job != j || fl->state != SLOT_FOLLOW || fl->leader != sl->seq) continue;
                gptc_kv_seq_cp(s->ctx, sl->seq, fl->seq, 0, -1);
                memcpy(fl->cache, sl->cache, (size_t)sl->n_cache * sizeof(int32_t));
                fl->n_cache = sl->n_cache;
                fl->state = SLOT_GEN;
                if (fl->job) slot_sample(s, fl, raw, -1);
            }
        }
        if (!sl->job) continue;
        if (sl->state != SLOT_GEN || sl->n_draft == 0) {
            slot_sample(s, sl, raw, -1);
            continue;
        }
        /* row k verifies draft k; the first token that is not the draft ends the slot's step */
        int m = sl->n_draft, k = 0;
        while (k < m && slot_sample(s, sl, gptc_get_logits(s->ctx, sl->bidx + k), sl->draft[k])) {
            sl->cache[sl->n_cache++] = sl->draft[k]; /* its cell was decoded this step */
            k++;
        }
        if (k == m && sl->job) slot_sample(s, sl, gptc_get_logits(s->ctx, sl->bidx + m), -1);
        /* the slot may have ended (its cache stays for reuse): drop the cells not taken */
        if (k < m) gptc_kv_seq_rm(s->ctx, sl->seq, sl->n_cache, -1);
        atomic_fetch_add(&s->metrics->spec_drafted, (unsigned long long)m);
        atomic_fetch_add(&s->metrics->spec_accepted, (unsigned long long)k);
        atomic_fetch_add(&s->metrics->spec_steps, 1);
        if (k == 0)
            sl->spec_cur = sl->spec_cur > 1 ? sl->spec_cur / 2 : 1;
        else if (k == m && sl->job)
            sl->spec_cur = sl->spec_cur * 2 < sl->job->spec_n ? sl->spec_cur * 2 : sl->job->spec_n;
    }
    long long cells = 0, toks = 0;
    for (int i = 0; i < s->n_slots; i++) {
        cells += gptc_kv_seq_pos_max(s->ctx, s->slots[i].seq) + 1;
        toks += s->slots[i].n_cache;
    }
    atomic_store(&s->metrics->kv_cells, cells);
    atomic_store(&s->metrics->slot_tokens, toks);
}

/* ----- the thread ------------------------------------------------------------------------------
 */

static void *sched_main(void *arg)
{
    srv_sched *s = arg;
    double win_t = gptc_srv_now();
    unsigned long long win_tok = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->q_head && !s->lq_head && s->n_active_jobs == 0 && !s->stop) {
            atomic_store(&s->metrics->tok_per_s_x1000, 0);
            pthread_cond_wait(&s->cv, &s->mu);
            win_t = gptc_srv_now();
            win_tok = atomic_load(&s->metrics->gen_tokens);
        }
        int quit = s->stop && !s->q_head && !s->lq_head && s->n_active_jobs == 0;
        pthread_mutex_unlock(&s->mu);
        if (quit) break;

        admit(s);
        int busy = 0;
        for (int i = 0; i < s->n_slots; i++)
            busy += s->slots[i].job != NULL;
        if (!busy) {
            /* queued work that cannot start yet (cannot happen with nothing running): wait */
            pthread_mutex_lock(&s->mu);
            gptc_cond_wait_ms(&s->cv, &s->mu, 20);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        step(s);
        double now = gptc_srv_now();
        if (now - win_t >= 1.0) {
            unsigned long long tok = atomic_load(&s->metrics->gen_tokens);
            atomic_store(&s->metrics->tok_per_s_x1000,
                         (unsigned)((double)(tok - win_tok) / (now - win_t) * 1000.0));
            win_t = now;
            win_tok = tok;
        }
    }
    return NULL;
}

gptc_status gptc_srv_sched_init(srv_sched *s, const gptc_model *model, const srv_sched_params *p,
                                srv_metrics *metrics, gptc_server_log_fn log, void *log_user,
                                gptc_err *err)
{
    memset(s, 0, sizeof *s);
    s->model = model;
    s->tok = gptc_model_tokenizer(model);
    s->metrics = metrics;
    s->log = log;
    s->log_user = log_user;
    s->seed_base = p->seed_base;
    s->q_max = p->queue_max;
    s->n_slots = p->n_parallel;
    s->n_ctx_seq = p->n_ctx_seq;
    const gptc_hparams *hp = gptc_model_hparams(model);
    s->n_vocab = hp->n_vocab;
    s->n_embd = hp->n_embd;
    s->embed_only = gptc_model_pooling(model) != 0;
    s->recurrent = gptc_model_recurrent(model);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);

    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = p->n_ctx;
    cp.n_batch = p->n_batch;
    cp.n_threads = p->n_threads;
    cp.n_seq_max = p->n_parallel;
    cp.embeddings = 1;
    cp.type_k = p->type_k;
    cp.type_v = p->type_v;
    cp.swa_full = p->swa_full;
    gptc_status st = gptc_ctx_init(model, &cp, &s->ctx, err);
    if (st) return st;
    s->n_ctx = gptc_ctx_n_ctx(s->ctx);
    if (p->draft) {
        cp.n_ctx = s->n_ctx;
        cp.embeddings = 0;
        st = gptc_drafter_init(model, p->draft, &cp, &s->drafter, err);
        if (st) {
            gptc_ctx_free(s->ctx);
            s->ctx = NULL;
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            return st;
        }
    }
    s->n_batch = SRV_MIN(p->n_batch, s->n_ctx);
    if (s->n_ctx_seq > s->n_ctx) s->n_ctx_seq = s->n_ctx;
    /* bidirectional attention: an input goes in one decode step, within the learned positions */
    if (s->embed_only && s->n_ctx_seq > s->n_batch) s->n_ctx_seq = s->n_batch;
    if (s->embed_only && s->n_ctx_seq > hp->n_ctx_train) s->n_ctx_seq = hp->n_ctx_train;

    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->active = calloc((size_t)s->n_slots + 1, sizeof *s->active);
    s->b_tok = malloc((size_t)s->n_batch * sizeof *s->b_tok);
    s->b_pos = malloc((size_t)s->n_batch * sizeof *s->b_pos);
    s->b_seq = malloc((size_t)s->n_batch * sizeof *s->b_seq);
    s->b_logits = malloc((size_t)s->n_batch * sizeof *s->b_logits);
    int fail = !s->slots || !s->active || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_logits;
    for (int i = 0; !fail && i < s->n_slots; i++) {
        srv_slot *sl = &s->slots[i];
        sl->seq = i;
        sl->cache = malloc((size_t)s->n_ctx_seq * sizeof *sl->cache);
        sl->lg = malloc((size_t)s->n_vocab * sizeof *sl->lg);
        sl->lg2 = malloc((size_t)s->n_vocab * sizeof *sl->lg2);
        fail = !sl->cache || !sl->lg || !sl->lg2;
    }
    if (!fail && pthread_create(&s->thread, NULL, sched_main, s) == 0) {
        s->started = 1;
        return GPTC_OK;
    }
    gptc_srv_sched_free(s);
    err->status = GPTC_E_NOMEM;
    snprintf(err->msg, sizeof err->msg, "server: out of memory for %d slots", p->n_parallel);
    return GPTC_E_NOMEM;
}

void gptc_srv_sched_free(srv_sched *s)
{
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->started = 0;
    }
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        free(s->slots[i].cache);
        free(s->slots[i].lg);
        free(s->slots[i].lg2);
        gptc_sampler_free(s->slots[i].smp);
        gptc_grammar_free(s->slots[i].gr);
    }
    free(s->slots);
    gptc_gvocab_free(s->gvocab);
    free(s->active);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_logits);
    gptc_ctx_free(s->ctx);
    gptc_drafter_free(s->drafter);
    s->drafter = NULL;
    s->slots = NULL;
    s->active = NULL;
    s->ctx = NULL;
    s->model = NULL;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}
