// threads.cpp - the course's "Les threads en Python", written with std::thread.
//
// Each C++ statement sits under the Python line of the course it translates (the `//  >` lines).
//
// Build: c++ -std=c++17 -Iinclude examples/threads.cpp -pthread -o threads
// Run:   ./threads            two threads print "Thread n: on est dans la boucle i" five times,
//                             pausing 0.5 s after each line, then "C'est fini!"
//        ./threads --fast     the course's question: « Comment exécuter le thread 2 deux fois plus
//                             rapidement que le thread 1 ? » Give each thread its own pause:
//                             0.5 s for thread 1, 0.25 s for thread 2.
// (No socket here; the header is included only because every example builds the same way.)
#include <pysock/socket.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

// Ctrl-C: Python raises KeyboardInterrupt. A C++ signal handler must not throw, so we leave at
// once. Only async-signal-safe calls here (write, _Exit); 130 = 128 + SIGINT, what shells expect.
extern "C" void on_ctrl_c(int) {
    const char msg[] = "\nInterrompu (Ctrl-C).\n";
    ssize_t n = ::write(2, msg, sizeof msg - 1);
    (void)n;
    std::_Exit(130);
}

// Python's print() writes each line in one piece; std::cout from two threads could mix the
// pieces of two lines, so one mutex lets one thread print at a time.
std::mutex print_mutex;
void print(const std::string& line) {
    std::lock_guard<std::mutex> lock(print_mutex);
    std::cout << line << std::endl;
}

//  > def fonction(n):
//  >     for i in range(5):
//  >         print(f"Thread {n}: on est dans la boucle {i}")
//  >         sleep(0.5)
// (With --fast, `pause` answers the course's question: def fonction(n, pause=0.5).)
void fonction(int n, std::chrono::milliseconds pause) {
    for (int i = 0; i < 5; ++i) {
        print("Thread " + std::to_string(n) + ": on est dans la boucle " + std::to_string(i));
        std::this_thread::sleep_for(pause);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* usage =
        "usage: threads [--fast]   (--fast: thread 2 runs twice as fast as thread 1)\n";
    const std::string arg = argc == 2 ? argv[1] : "";
    if (arg == "-h" || arg == "--help") {
        std::cout << usage;
        return 0;
    }
    if (argc > 2 || (argc == 2 && arg != "--fast")) {
        std::cerr << usage;
        return 2;
    }
    const bool fast = argc == 2;
    std::signal(SIGINT, on_ctrl_c);

    using namespace std::chrono_literals;
    // création de thread
    //  > t1 = threading.Thread(target=fonction, args=(1,))
    //  > t2 = threading.Thread(target=fonction, args=(2,))
    // A std::thread starts as soon as it is constructed: construction is Python's Thread() and
    // start() at once. So "démarrer le thread t1" and "démarrer le thread t2" happen here.
    //  > t1.start()
    //  > t2.start()
    std::thread t1(fonction, 1, 500ms);
    std::thread t2(fonction, 2, fast ? 250ms : 500ms);

    // attendre que t1 soit exécuté
    //  > t1.join()
    t1.join();
    // attendre que t2 soit exécuté
    //  > t2.join()
    t2.join();

    // les deux thread sont exécutés
    //  > print("C'est fini!")
    print("C'est fini!");
    return 0;
}
