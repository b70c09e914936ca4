/*
 * session.h — what the CLI needs of a chat session beyond the public gptc_chat_session_* API
 * (include/gptc.h): its context, stop markers and messages as jansson values.
 */
#ifndef GPTC_CHAT_SESSION_H
#define GPTC_CHAT_SESSION_H

#include "chat/chat.h"
#include "gptc.h"

/* The session's context (borrowed), e.g. to describe its KV cache. */
const gptc_ctx *gptc_chat_session_ctx(const gptc_chat_session *s);
/* Where replies end (borrowed). */
const gptc_chat_stops *gptc_chat_session_stops(const gptc_chat_session *s);
/* The conversation as a JSON array (borrowed: valid until the conversation next changes). */
const struct json_t *gptc_chat_session_messages(const gptc_chat_session *s);
/* Replace the conversation with a deep copy of messages, which the caller has checked: an array
 * of objects, each with a string "role". GPTC_E_NOMEM, the conversation then unchanged. */
gptc_status gptc_chat_session_set_messages(gptc_chat_session *s, const struct json_t *messages,
                                           gptc_err *err);

#endif
