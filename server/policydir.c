/*
 * policydir: reads a policy directory (see policydir.h).
 */
#include "policydir.h"

#include "verdicts.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (16 << 20)

struct collect {
    struct policydir *d;
    const char *file, *text;
    size_t len, index; /* the document's index within an array file */
    bool array;
    bool oom;
};

static void origin(struct collect *c, struct policydir_origin *o)
{
    snprintf(o->file, sizeof(o->file), "%s", c->file);
    o->text = c->d->n_texts;
    o->index = c->index;
    o->array = c->array;
}

const char *policydir_where(const struct policydir *d, const struct policydir_origin *o, char *buf,
                            size_t cap)
{
    char path[160];
    int line = 0, column = 0;

    if (o->array)
        snprintf(path, sizeof(path), "[%zu].scope", o->index);
    else
        snprintf(path, sizeof(path), "scope");
    if (o->text >= d->n_texts ||
        !policy_locate(d->texts[o->text], d->text_lens[o->text], path, &line, &column))
        line = column = 0;
    snprintf(buf, cap, "%s:%d:%d", o->file, line, column);
    return buf;
}

static void *grow(void *p, size_t n, size_t size)
{
    return realloc(p, (n + 1) * size);
}

static void on_budget(void *arg, const struct budget *b)
{
    struct collect *c = arg;
    struct policydir *d = c->d;
    void *nb = grow(d->budgets, d->n_budgets, sizeof(*b));

    if (nb)
        d->budgets = nb;
    void *na = nb ? grow(d->budget_at, d->n_budgets, sizeof(*d->budget_at)) : NULL;
    if (!nb || !na) {
        c->oom = true;
        return;
    }
    d->budget_at = na;
    d->budgets[d->n_budgets] = *b;
    origin(c, &d->budget_at[d->n_budgets]);
    d->n_budgets++;
    c->index++;
}

static void on_policy(void *arg, const struct routing_policy *p)
{
    struct collect *c = arg;
    struct policydir *d = c->d;
    void *np = grow(d->policies, d->n_policies, sizeof(*p));

    if (np)
        d->policies = np;
    void *na = np ? grow(d->policy_at, d->n_policies, sizeof(*d->policy_at)) : NULL;
    if (!np || !na) {
        c->oom = true;
        return;
    }
    d->policy_at = na;
    d->policies[d->n_policies] = *p;
    origin(c, &d->policy_at[d->n_policies]);
    d->n_policies++;
    c->index++;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= FILE_MAX &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_file(const char *path, struct policydir *d, FILE *errs)
{
    struct policy_error perr[32];
    size_t n_errs = 0, len = 0;
    char *text = read_all(path, &len);
    int bad;

    if (!text) {
        fprintf(errs, "%s: cannot read\n", path);
        return 1;
    }
    /* A document's index counts valid and invalid ones alike: learn which is which first. */
    struct collect c = {.d = d, .file = path, .text = text, .len = len};
    {
        const char *s = text;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        c.array = *s == '[';
    }
    bad = policy_parse_file(text, len, on_budget, on_policy, &c, perr, 32, &n_errs);
    if (bad < 0) {
        fprintf(errs, "%s:%d:%d: %s\n", path, perr[0].line, perr[0].column, perr[0].message);
        bad = 1;
    }
    for (size_t i = 0; i < n_errs && i < 32; i++)
        fprintf(errs, "%s:%d:%d: %s%s%s\n", path, perr[i].line, perr[i].column, perr[i].path,
                perr[i].path[0] ? ": " : "", perr[i].message);
    if (c.oom) {
        fprintf(errs, "%s: out of memory\n", path);
        bad++;
    }
    {
        char **t = realloc(d->texts, (d->n_texts + 1) * sizeof(*t));
        size_t *l = t ? realloc(d->text_lens, (d->n_texts + 1) * sizeof(*l)) : NULL;
        if (t)
            d->texts = t;
        if (l)
            d->text_lens = l;
        if (!t || !l) {
            fprintf(errs, "%s: out of memory\n", path);
            free(text);
            return bad + 1;
        }
        d->texts[d->n_texts] = text;
        d->text_lens[d->n_texts++] = len;
    }
    return bad;
}

int policydir_load(const char *dir, struct policydir *out, FILE *errs)
{
    struct policydir d = {0};
    DIR *dh = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    int bad = 0;

    if (!dh) {
        fprintf(errs, "%s: cannot open the directory\n", dir);
        return -1;
    }
    while ((e = readdir(dh))) {
        size_t l = strlen(e->d_name);
        char **nn;
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        if (!(nn = realloc(names, (n + 1) * sizeof(*names))) || !(nn[n] = strdup(e->d_name))) {
            names = nn ? nn : names;
            bad++;
            break;
        }
        names = nn;
        n++;
    }
    closedir(dh);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        bad += check_file(path, &d, errs);
    }
    /* Names are unique per kind across the directory; zones must exist. */
    for (size_t i = 0; i < d.n_budgets; i++) {
        char at[600];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(d.budgets[i].name, d.budgets[j].name)) {
                fprintf(errs, "%s: name: budget '%s' is also defined in %s\n",
                        policydir_where(&d, &d.budget_at[i], at, sizeof(at)), d.budgets[i].name,
                        d.budget_at[j].file);
                bad++;
                break;
            }
        if (!verdicts_zone(d.budgets[i].timezone)) {
            fprintf(errs, "%s: timezone: unknown time zone '%s'\n",
                    policydir_where(&d, &d.budget_at[i], at, sizeof(at)), d.budgets[i].timezone);
            bad++;
        }
    }
    for (size_t i = 0; i < d.n_policies; i++) {
        char at[600];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(d.policies[i].name, d.policies[j].name)) {
                fprintf(errs, "%s: name: policy '%s' is also defined in %s\n",
                        policydir_where(&d, &d.policy_at[i], at, sizeof(at)), d.policies[i].name,
                        d.policy_at[j].file);
                bad++;
                break;
            }
        if (d.policies[i].mix_set && !verdicts_zone(d.policies[i].mix_timezone)) {
            fprintf(errs, "%s: target_mix.timezone: unknown time zone '%s'\n",
                    policydir_where(&d, &d.policy_at[i], at, sizeof(at)),
                    d.policies[i].mix_timezone);
            bad++;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (bad) {
        policydir_free(&d);
        return bad;
    }
    *out = d;
    return 0;
}

void policydir_free(struct policydir *d)
{
    free(d->budgets);
    free(d->budget_at);
    free(d->policies);
    free(d->policy_at);
    for (size_t i = 0; i < d->n_texts; i++)
        free(d->texts[i]);
    free(d->texts);
    free(d->text_lens);
    memset(d, 0, sizeof(*d));
}
