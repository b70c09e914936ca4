/*
 * v1_models.c — GET /v1/models and GET /v1/models/{id}: the one model this server runs, under
 * its alias.
 */
#include <string.h>

#include "server/srv.h"

static json_t *model_json(gptc_server *s)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "id", s->alias, "object", "model", "created",
                     (json_int_t)s->created, "owned_by", "gptc");
}

enum MHD_Result gptc_srv_ep_models(srv_req *r, const char *id)
{
    gptc_server *s = r->srv;
    if (!id) {
        json_t *data = json_array();
        json_array_append_new(data, model_json(s));
        return gptc_srv_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    }
    if (!gptc_srv_model_known(s, id)) {
        srv_error e;
        gptc_srv_fail(&e, 404, "model_not_found", "model", "The model '%.200s' does not exist", id);
        return gptc_srv_reply_error(r, &e);
    }
    return gptc_srv_reply_json(r, 200, model_json(s));
}

int gptc_srv_model_known(const gptc_server *s, const char *name)
{
    return strcmp(name, s->alias) == 0 || (s->file_id[0] && strcmp(name, s->file_id) == 0);
}

int gptc_srv_check_model(gptc_server *s, const json_t *body, srv_error *e)
{
    const char *name;
    int rc = gptc_srv_jstr(body, "model", &name, NULL, e);
    if (rc <= 0 || s->p.any_model) return rc; /* absent: this server's one model */
    if (!gptc_srv_model_known(s, name))
        return gptc_srv_fail(e, 404, "model_not_found", "model",
                             "The model '%.200s' does not exist (this server runs '%s')", name,
                             s->alias);
    return 0;
}
