/*
 * v1_models.c — GET /v1/models and GET /v1/models/{id}: the one model this server runs, under
 * its alias.
 */
#include <string.h>

#include "srv.h"

static json_t *model_json(gptc_server *s)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", s->alias, "object", "model", "created",
                     (json_int_t)s->created, "owned_by", "gptc");
}

enum MHD_Result srv_ep_models(srv_req *r, const char *id)
{
    gptc_server *s = r->srv;
    if (!id) {
        json_t *data = json_array();
        json_array_append_new(data, model_json(s));
        return srv_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    }
    if (strcmp(id, s->alias) != 0) {
        srv_error e;
        srv_fail(&e, 404, "model_not_found", "model", "The model '%.200s' does not exist", id);
        return srv_reply_error(r, &e);
    }
    return srv_reply_json(r, 200, model_json(s));
}
