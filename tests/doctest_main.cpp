// The one main() of every pysock test executable (compiled once, linked into each test_<area>).
// Run a test executable with --help for doctest's options, e.g. ./test_tcp -tc='*timeout*' -s.
//
// It also checks every test case for leaked descriptors: the set of open descriptors after a
// test case must be the one before it (Linux: /proc/self/fd). A leak fails the run and names the
// test and the descriptors, with what they point to. Set PYSOCK_NO_FD_CHECK=1 to turn it off.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#if defined(__linux__)
#include <dirent.h>
#include <unistd.h>
#endif

namespace {

#if defined(__linux__)
std::set<int> open_descriptors() {
    std::set<int> fds;
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return fds;
    int own = ::dirfd(dir);
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        int fd = std::atoi(entry->d_name);
        if (fd != own) fds.insert(fd);
    }
    ::closedir(dir);
    return fds;
}

std::string describe(int fd) {
    char target[256] = {};
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    return std::to_string(fd) + " -> " +
           (n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?");
}
#else
std::set<int> open_descriptors() { return {}; }
std::string describe(int fd) { return std::to_string(fd); }
#endif

std::vector<std::string> leaks;  // one line per leaking test case

// doctest runs a test case once per SUBCASE path; each pass is checked on its own.
struct fd_leak_checker : doctest::IReporter {
    explicit fd_leak_checker(const doctest::ContextOptions&) {}

    void test_case_start(const doctest::TestCaseData& tc) override {
        current = &tc;
        before = open_descriptors();
    }
    void test_case_reenter(const doctest::TestCaseData&) override {
        check();
        before = open_descriptors();
    }
    void test_case_end(const doctest::CurrentTestCaseStats&) override { check(); }
    void test_case_exception(const doctest::TestCaseException&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void report_query(const doctest::QueryData&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}

    void check() {
        std::set<int> after = open_descriptors();
        std::string extra;
        for (int fd : after)
            if (!before.count(fd)) extra += " " + describe(fd);
        if (!extra.empty() && current) {
            static std::mutex m;
            std::lock_guard<std::mutex> lock(m);
            leaks.push_back(std::string(current->m_name) + " (" + current->m_file.c_str() + ":" +
                            std::to_string(current->m_line) + ") leaked:" + extra);
        }
    }

    const doctest::TestCaseData* current = nullptr;
    std::set<int> before;
};

REGISTER_LISTENER("fd_leak_check", 1, fd_leak_checker);

}  // namespace

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    int result = context.run();
    if (context.shouldExit()) return result;
    const char* off = std::getenv("PYSOCK_NO_FD_CHECK");
    if (!leaks.empty() && !(off && *off == '1')) {
        std::fprintf(stderr, "\nDescriptor leak check FAILED (%zu test case(s)):\n", leaks.size());
        for (const auto& line : leaks) std::fprintf(stderr, "  %s\n", line.c_str());
        return result != 0 ? result : 1;
    }
    return result;
}
