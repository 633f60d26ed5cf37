/* commands.h -- the subcommands of the pipewatch binary, one file each.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit code: 0 success, 1 the command ran
 * and found a problem (invalid rules, failed tests), 2 usage error.
 */
#ifndef PW_COMMANDS_H
#define PW_COMMANDS_H

int pw_cmd_check(int argc, char **argv);   /* cmd_check.c: validate rule files */
int pw_cmd_replay(int argc, char **argv);  /* cmd_replay.c: run the engine over a JSON-lines file */
int pw_cmd_test(int argc, char **argv);    /* cmd_test.c: rule unit tests */
int pw_cmd_gen(int argc, char **argv);     /* cmd_gen.c: synthetic CRM events */
int pw_cmd_run(int argc, char **argv);     /* cmd_run.c: the daemon */
int pw_cmd_demo(int argc, char **argv);    /* cmd_demo.c: everything in one process, with generated events */
int pw_cmd_config_reference(int argc, char **argv); /* cmd_run.c: print the config key table */
int pw_cmd_kafka_mock(int argc, char **argv); /* cmd_kafka_mock.c: a throwaway Kafka broker */
int pw_cmd_snapshot(int argc, char **argv);   /* cmd_snapshot.c: inspect the newest Redis snapshot */

#endif
