/* Round 8 red-team helper: a minimal command interpreter that is no known shell.
 *
 * Reads commands, one per line, from stdin; splits each on blanks (no quoting,
 * no globbing) and runs it with fork + execvp, waiting for it.  It is what a
 * poisoned repository can ship as an innocent-looking tool (`.devtools/fmt`):
 * its code matches no shell, interpreter or known tool, yet it runs whatever
 * it is fed.  At most 64 commands, 64 words each.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    char line[4096];
    int status = 0;
    for (int n = 0; n < 64 && fgets(line, sizeof line, stdin); n++) {
        char *argv[65];
        int argc = 0;
        for (char *tok = strtok(line, " \t\n"); tok && argc < 64; tok = strtok(NULL, " \t\n")) argv[argc++] = tok;
        argv[argc] = NULL;
        if (argc == 0) continue;
        pid_t pid = fork();
        if (pid == 0) {
            execvp(argv[0], argv);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) < 0) return 126;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
