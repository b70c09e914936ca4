/*
 * errors.c — OpenAI error objects: {"error": {"message", "type", "param", "code"}} with the HTTP
 * status the SDKs map to their error classes (400 BadRequestError, 401 AuthenticationError,
 * 404 NotFoundError, 429 RateLimitError, 5xx InternalServerError ...).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/srv.h"

static const char *type_of(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "invalid_request_error";
    case 408:
        return "timeout_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

int gptc_srv_fail(srv_error *e, int status, const char *code, const char *param, const char *fmt,
                  ...)
{
    e->status = status;
    e->type = type_of(status);
    e->code = code ? code : "invalid_value";
    e->retry_after = 0;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

json_t *gptc_srv_error_json(const srv_error *e)
{
    /* messages may quote request bytes: keep them valid UTF-8 */
    json_t *err = json_object();
    json_object_set_new(err, "message", gptc_srv_jstring_lossy(e->message, strlen(e->message)));
    json_object_set_new(err, "type", json_string(e->type ? e->type : type_of(e->status)));
    json_object_set_new(err, "param",
                        e->param[0] ? gptc_srv_jstring_lossy(e->param, strlen(e->param))
                                    : json_null());
    json_object_set_new(err, "code", json_string(e->code ? e->code : "error"));
    json_t *o = json_object();
    json_object_set_new(o, "error", err);
    return o;
}
