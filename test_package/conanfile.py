# Run by `conan create .`: builds main.cpp against the packaged pysock through CMakeDeps
# (find_package(pysock CONFIG REQUIRED), pysock::pysock) and runs it; also checks that
# PkgConfigDeps wrote pysock.pc.
import os
import shutil

from conan import ConanFile
from conan.errors import ConanException
from conan.tools.build import can_run
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout


class PysockTestConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "PkgConfigDeps", "VirtualRunEnv"
    test_type = "explicit"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def generate(self):
        tc = CMakeToolchain(self)
        # main.cpp checks PYSOCK_VERSION_MAJOR/MINOR/PATCH against the recipe's version.
        tc.cache_variables["PYSOCK_EXPECTED_VERSION"] = str(self.dependencies["pysock"].ref.version)
        tc.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if not can_run(self):
            return
        pc = os.path.join(self.generators_folder, "pysock.pc")
        if not os.path.isfile(pc):
            raise ConanException(f"PkgConfigDeps did not write {pc}")
        if shutil.which("pkg-config"):
            self.run(f'pkg-config --cflags --libs "{pc}"')
        self.run(os.path.join(self.cpp.build.bindir, "test_package"), env="conanrun")
