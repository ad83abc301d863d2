# Cross-compile pysock's tests, examples and benchmarks for Windows with Debian's mingw-w64
# (posix-threads variant, so std::thread works) and run them through wine:
#
#   cmake -S . -B /tmp/build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
#   cmake --build /tmp/build-win -j2
#   wineserver -p && ctest --test-dir /tmp/build-win --output-on-failure; wineserver -k
#
# Debian packages: g++-mingw-w64-x86-64-posix wine64 wine
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(PYSOCK_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER   ${PYSOCK_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${PYSOCK_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER  ${PYSOCK_MINGW_TRIPLE}-windres)

# Look for libraries and headers in the mingw sysroot only; programs (python, ninja, ...) on the host.
set(CMAKE_FIND_ROOT_PATH /usr/${PYSOCK_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest and add_test() run every .exe through wine.
find_program(PYSOCK_WINE NAMES wine wine64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${PYSOCK_WINE})

# Static linking: wine finds no libstdc++-6.dll / libgcc_s_seh-1.dll / libwinpthread-1.dll next to
# a dynamically linked test and the process exits 53 without a word.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")

# doctest is header-only; take Debian's copy from its own directory (adding all of /usr/include
# to a mingw build would pull in the host's glibc headers). The test build uses this variable
# (and the tests' find_path(... doctest.h) looks here first).
set(PYSOCK_DOCTEST_INCLUDE_DIR /usr/include/doctest CACHE PATH "directory holding doctest.h")
