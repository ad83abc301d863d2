// compile_cost: the course's client (Example 2) on raw POSIX headers only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const char* host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? std::atoi(argv[2]) : 65432;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<unsigned short>(port));
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("connect");
        return 1;
    }
    const char msg[] = "Bonjour";
    if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg - 1))
        return 1;
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) return 1;
    std::printf("Received %.*s\n", static_cast<int>(n), buf);
    close(fd);
    return 0;
}
