# vcpkg overlay port for pysock (header-only).
#
# pysock is not in the vcpkg registry, and vcpkg_from_github() would need the network, so this port
# takes its sources from the pysock checkout it lives in: ports/pysock/ -> ../.. is the source tree.
# Use it as an overlay port:
#   classic:  vcpkg install pysock --overlay-ports=<pysock>/ports
#   manifest: "overlay-ports": ["<pysock>/ports"] in vcpkg-configuration.json (or --overlay-ports)
# To build from another checkout, set PYSOCK_SOURCE_DIR (a variable in a custom triplet, or an
# environment variable; on Windows also list it in VCPKG_KEEP_ENV_VARS).
# vcpkg's binary cache keys on the port files only, not on the checkout: after editing the header,
# reinstall with --binarysource=clear (or bump "port-version" in vcpkg.json).

if(DEFINED PYSOCK_SOURCE_DIR)
    set(SOURCE_PATH "${PYSOCK_SOURCE_DIR}")
elseif(DEFINED ENV{PYSOCK_SOURCE_DIR})
    set(SOURCE_PATH "$ENV{PYSOCK_SOURCE_DIR}")
else()
    set(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../..")
endif()
get_filename_component(SOURCE_PATH "${SOURCE_PATH}" ABSOLUTE)

if(NOT EXISTS "${SOURCE_PATH}/include/pysock/socket.hpp" OR NOT EXISTS "${SOURCE_PATH}/VERSION")
    message(FATAL_ERROR "pysock sources not found in '${SOURCE_PATH}' (set PYSOCK_SOURCE_DIR)")
endif()
# One version, in one place: the port must agree with the checkout's VERSION file.
file(STRINGS "${SOURCE_PATH}/VERSION" PYSOCK_SOURCE_VERSION LIMIT_COUNT 1)
string(STRIP "${PYSOCK_SOURCE_VERSION}" PYSOCK_SOURCE_VERSION)
if(NOT PYSOCK_SOURCE_VERSION STREQUAL VERSION)
    message(FATAL_ERROR "ports/pysock/vcpkg.json says ${VERSION} but ${SOURCE_PATH}/VERSION says ${PYSOCK_SOURCE_VERSION}")
endif()

# Header-only: nothing differs between debug and release, so configure once.
set(VCPKG_BUILD_TYPE release)

# The "ssl" feature: pysock::ssl (ssl.hpp) over vcpkg's OpenSSL, required; without it, left out.
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS FEATURES ssl PYSOCK_SSL)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DPYSOCK_BUILD_TESTS=OFF
        -DPYSOCK_BUILD_EXAMPLES=OFF
        -DPYSOCK_BUILD_BENCHMARKS=OFF
        -DPYSOCK_INSTALL=ON
        # pysock.pc has Libs: -pthread, so vcpkg wants it in lib/pkgconfig, not share/pkgconfig.
        -DPYSOCK_INSTALL_PKGCONFIGDIR=lib/pkgconfig
)
vcpkg_cmake_install()
# pysock installs its config to share/cmake/pysock; vcpkg wants it in share/pysock.
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/pysock)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")

vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
