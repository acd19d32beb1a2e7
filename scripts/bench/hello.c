/* The smallest compiled CGI program: one header, a blank line, a body,
 * in a single write. scripts/bench.sh serves it from every host and the
 * spawn ceiling (examples/spawn_ceiling.rs) starts it directly. */
#include <unistd.h>

int main(void)
{
    static const char out[] = "Content-Type: text/plain\n\nHello, world!\n";
    ssize_t n = write(STDOUT_FILENO, out, sizeof out - 1);
    return n == (ssize_t)(sizeof out - 1) ? 0 : 1;
}
