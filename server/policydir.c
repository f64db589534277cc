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
    char path[160];

    snprintf(o->file, sizeof(o->file), "%s", c->file);
    o->line = o->column = 0;
    if (c->array)
        snprintf(path, sizeof(path), "[%zu].scope", c->index);
    else
        snprintf(path, sizeof(path), "scope");
    if (!policy_locate(c->text, c->len, path, &o->line, &o->column))
        o->line = o->column = 0;
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
    free(text);
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
        const struct policydir_origin *o = &d.budget_at[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(d.budgets[i].name, d.budgets[j].name)) {
                fprintf(errs, "%s:%d:%d: name: budget '%s' is also defined in %s\n", o->file,
                        o->line, o->column, d.budgets[i].name, d.budget_at[j].file);
                bad++;
                break;
            }
        if (!verdicts_zone(d.budgets[i].timezone)) {
            fprintf(errs, "%s:%d:%d: timezone: unknown time zone '%s'\n", o->file, o->line,
                    o->column, d.budgets[i].timezone);
            bad++;
        }
    }
    for (size_t i = 0; i < d.n_policies; i++) {
        const struct policydir_origin *o = &d.policy_at[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(d.policies[i].name, d.policies[j].name)) {
                fprintf(errs, "%s:%d:%d: name: policy '%s' is also defined in %s\n", o->file,
                        o->line, o->column, d.policies[i].name, d.policy_at[j].file);
                bad++;
                break;
            }
        if (d.policies[i].mix_set && !verdicts_zone(d.policies[i].mix_timezone)) {
            fprintf(errs, "%s:%d:%d: target_mix.timezone: unknown time zone '%s'\n", o->file,
                    o->line, o->column, d.policies[i].mix_timezone);
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
    memset(d, 0, sizeof(*d));
}
