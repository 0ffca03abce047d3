/* child.h — run a piece of a test in a forked child and read back the message it wrote: for
 * calls that might block (a FIFO opened for reading) or that need another user (a child that
 * became nobody to lose root's permissions). An alarm ends a child that hangs, so a regression
 * fails the test instead of hanging the suite. */
#ifndef SBS_TEST_CHILD_H
#define SBS_TEST_CHILD_H

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* fn writes its one-line outcome into msg (n bytes); it may _exit(77) when it cannot run. */
typedef void (*sbs_child_fn)(void *ctx, char *msg, size_t n);

/* Run fn(ctx) in a child with an alarm of alarm_s seconds; msg gets what it wrote. Returns the
 * child's wait status (WIFEXITED / WEXITSTATUS / WIFSIGNALED), or -1 if it could not start. */
static inline int sbs_run_in_child(sbs_child_fn fn, void *ctx, unsigned alarm_s, char *msg,
                                   size_t n)
{
    int fds[2];
    msg[0] = 0;
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(alarm_s);
        char out[2048] = "";
        fn(ctx, out, sizeof out);
        size_t len = strlen(out);
        _exit(write(fds[1], out, len) != (ssize_t)len);
    }
    close(fds[1]);
    size_t got = 0;
    for (ssize_t r; got + 1 < n && (r = read(fds[0], msg + got, n - 1 - got)) > 0;)
        got += (size_t)r;
    msg[got] = 0;
    close(fds[0]);
    int st;
    pid_t w;
    do w = waitpid(pid, &st, 0);
    while (w < 0 && errno == EINTR);
    return w < 0 ? -1 : st;
}

#endif
