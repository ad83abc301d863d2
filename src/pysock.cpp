// The one translation unit of pysock::compiled (CMake) and pysock_compiled_dep (Meson): every
// body of socket.hpp and selectors.hpp, compiled once for the programs that define
// PYSOCK_SEPARATE_COMPILATION (see include/pysock/src.hpp).
#include <pysock/src.hpp>
