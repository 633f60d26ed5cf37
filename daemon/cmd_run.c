/* cmd_run.c -- `pipewatch run --config FILE`: the long-running service. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "server.h"

int pw_cmd_run(int argc, char **argv) {
    const char *cfg = NULL, *metrics_out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: pipewatch run --config FILE [--metrics-out FILE]\n");
            return 0;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cfg = argv[++i];
        else if (!strcmp(argv[i], "--metrics-out") && i + 1 < argc) metrics_out = argv[++i];
        else {
            fprintf(stderr, "pipewatch run: unknown option '%s'\nusage: pipewatch run --config FILE\n", argv[i]);
            return 2;
        }
    }
    if (!cfg) {
        fprintf(stderr, "usage: pipewatch run --config FILE\n");
        return 2;
    }
    return pw_server_run_opts(cfg, metrics_out);
}

int pw_cmd_config_reference(int argc, char **argv) {
    (void)argc;
    (void)argv;
    pw_config_reference(stdout);
    return 0;
}
