# Conan 2 recipe for pysock (header-only).
#
#   conan create .                      # packages pysock/1.0.0 and runs test_package/
#   conan install --requires=pysock/1.0.0 -g CMakeDeps -g CMakeToolchain   # in a consumer
#
# The version is read from the file VERSION (the one place it lives); passing a different
# --version fails.
import os

from conan import ConanFile
from conan.errors import ConanException
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class PysockConan(ConanFile):
    name = "pysock"
    description = "Python's socket module in one C++17 header"
    license = "MIT"
    topics = ("socket", "networking", "header-only", "python")
    package_type = "header-library"
    # Settings are only used to check the C++ standard; package_id() drops them.
    settings = "os", "arch", "compiler", "build_type"
    # with_ssl: <pysock/ssl.hpp> (Python's ssl module) needs OpenSSL 3; the headers are the same
    # either way, so the option only adds the requirement and the pysock::ssl name.
    options = {"with_ssl": [True, False]}
    default_options = {"with_ssl": False}
    exports_sources = "include/*", "LICENSE", "VERSION"
    no_copy_source = True

    def set_version(self):
        version = load(self, os.path.join(self.recipe_folder, "VERSION")).strip()
        if self.version is not None and str(self.version) != version:
            raise ConanException(f"pysock: --version {self.version} but VERSION says {version}")
        self.version = version

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        if self.options.with_ssl:
            self.requires("openssl/[>=3.0 <4]")

    def package_id(self):
        self.info.clear()

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 17)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include", "pysock"),
             os.path.join(self.package_folder, "include", "pysock"))

    def package_info(self):
        # Same names as pysock's own install: find_package(pysock) -> pysock::pysock, and pysock.pc.
        self.cpp_info.set_property("cmake_file_name", "pysock")
        self.cpp_info.set_property("cmake_target_name", "pysock::pysock")
        self.cpp_info.set_property("pkg_config_name", "pysock")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
        elif self.settings.os == "Windows":
            self.cpp_info.system_libs = ["ws2_32", "iphlpapi"]
        if self.options.get_safe("with_ssl"):
            # pysock's own install names the TLS target pysock::ssl: here it is pysock::pysock,
            # which links OpenSSL (the requirement), under that name too.
            self.cpp_info.set_property("cmake_target_aliases", ["pysock::ssl"])
