// rounds.hpp - what the side-by-side benchmark programs share: leaving with a message, and
// running each implementation in rotating order for several rounds, keeping the medians.
#ifndef PYSOCK_BENCH_ROUNDS_HPP
#define PYSOCK_BENCH_ROUNDS_HPP

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace bench {

/// Ends the program: "PROGRAM: what" on stderr, exit status 1.
[[noreturn]] inline void die(const char* program, const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    std::exit(1);
}

/// The median of the rounds (the upper middle one for an even count).
inline double median(std::vector<double> figures) {
    std::sort(figures.begin(), figures.end());
    return figures.empty() ? 0.0 : figures[figures.size() / 2];
}

/// Runs every implementation once per round, the order rotating from round to round (none
/// always runs first, on a cold or a warm machine), and returns each one's median.
/// measure(name) gives one round's figure; report(name, round, figure) prints it as it comes.
template <class Measure, class Report>
std::map<std::string, double> medians_of_rounds(const std::vector<std::string>& names, int rounds,
                                                Measure measure, Report report) {
    std::map<std::string, std::vector<double>> runs;
    for (int round = 0; round < rounds; ++round)
        for (std::size_t j = 0; j < names.size(); ++j) {
            const std::string& name = names[(j + static_cast<std::size_t>(round)) % names.size()];
            const double figure = measure(name);
            runs[name].push_back(figure);
            report(name, round + 1, figure);
        }
    std::map<std::string, double> medians;
    for (const auto& [name, figures] : runs) medians[name] = median(figures);
    return medians;
}

}  // namespace bench

#endif  // PYSOCK_BENCH_ROUNDS_HPP
