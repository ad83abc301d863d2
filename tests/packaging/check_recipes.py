#!/usr/bin/env python3
"""Checks the vcpkg port (ports/pysock/) and the Conan recipe (conanfile.py, test_package/) against
what pysock's own CMake install really produces. CI cannot run vcpkg or Conan, so this stands in:

  check_recipes.py port-options SOURCE_DIR
      prints the -D options the port passes to vcpkg_cmake_configure, one per line (the CI stage
      configures and installs pysock with exactly these, into PREFIX)
  check_recipes.py check SOURCE_DIR PREFIX
      checks, against that installed PREFIX:
      - the port: vcpkg.json name/version (= VERSION), the config dir vcpkg_cmake_config_fixup
        moves (must hold pysockConfig.cmake), the copyright file, and its `usage` text: the
        find_package() name, the target, the #include and the pkg-config module must all be what
        PREFIX holds (pysockConfig.cmake, the exported target, include/..., pysock.pc)
      - the Conan recipe: executed against a small stand-in for the `conan` module (no Conan
        needed): name, version from set_version() (= VERSION), package_type header-library,
        package_id() clears the settings, package() must lay out the header at the path the
        usage names, package_info() must declare the same CMake file/target and pkg-config names
      - test_package/ and tests/packaging/vcpkg-conan-consumer/ use the same names and version
      - python3 -m py_compile conanfile.py test_package/conanfile.py
Exit status 0 when everything agrees, 1 otherwise (each disagreement is printed as FAIL)."""
import json
import os
import py_compile
import re
import shutil
import sys
import tempfile
import types

failures = []


def ok(what, detail):
    print(f"ok    {what}: {detail}")


def fail(what, detail):
    print(f"FAIL  {what}: {detail}")
    failures.append(what)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_cmake_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def port_options(src):
    """The -D options in the portfile's vcpkg_cmake_configure(... OPTIONS ...) call."""
    portfile = strip_cmake_comments(read(os.path.join(src, "ports", "pysock", "portfile.cmake")))
    m = re.search(r"vcpkg_cmake_configure\s*\((.*?)\)", portfile, re.S)
    if not m:
        return None
    return re.findall(r"(-D[A-Za-z0-9_]+(?::[A-Z]+)?=\S+)", m.group(1))


# ---- what pysock's CMake install put in PREFIX ---------------------------------------------------
def installed_facts(prefix):
    facts = {"configs": {}, "targets": set(), "headers": set(), "pcs": {}}
    for dirpath, _, files in os.walk(prefix):
        rel = os.path.relpath(dirpath, prefix).replace(os.sep, "/")
        for f in files:
            path = os.path.join(dirpath, f)
            relf = f if rel == "." else f"{rel}/{f}"
            m = re.fullmatch(r"(.+)Config\.cmake", f)
            if m:
                facts["configs"][rel] = m.group(1)
            if f.endswith("Targets.cmake"):
                for t in re.findall(r"add_library\(\s*(\S+)\s+INTERFACE\s+IMPORTED", read(path)):
                    facts["targets"].add(t)
            if relf.startswith("include/"):
                facts["headers"].add(relf[len("include/"):])
            if f.endswith(".pc"):
                facts["pcs"][f[:-3]] = rel
    return facts


# ---- the vcpkg port ------------------------------------------------------------------------------
def parse_usage(text):
    u = {}
    m = re.search(r"find_package\(\s*([A-Za-z0-9_.+-]+)\s+CONFIG\s+REQUIRED\s*\)", text)
    u["package"] = m.group(1) if m else None
    m = re.search(r"target_link_libraries\(\s*\S+\s+(?:PRIVATE|PUBLIC|INTERFACE)\s+([^\s)]+)\s*\)", text)
    u["target"] = m.group(1) if m else None
    m = re.search(r"#\s*include\s*<([^>]+)>", text)
    u["header"] = m.group(1) if m else None
    m = re.search(r"pkg-config modules:\s*\n(?:\s*#.*\n)*\s*([A-Za-z0-9_.+-]+)\s*$", text, re.M)
    u["pkgconfig"] = m.group(1) if m else None
    return u


def check_port(src, prefix, version, facts):
    port = os.path.join(src, "ports", "pysock")
    manifest = json.loads(read(os.path.join(port, "vcpkg.json")))
    if manifest.get("name") == "pysock":
        ok("ports/pysock/vcpkg.json", 'name "pysock"')
    else:
        fail("ports/pysock/vcpkg.json", f'name {manifest.get("name")!r}, expected "pysock"')
    keys = [k for k in ("version", "version-semver", "version-string", "version-date") if k in manifest]
    if len(keys) == 1 and manifest[keys[0]] == version:
        ok("ports/pysock/vcpkg.json", f'"{keys[0]}": "{version}" = VERSION')
    else:
        fail("ports/pysock/vcpkg.json", f"version {[manifest.get(k) for k in keys]} != VERSION {version}")
    deps = {d["name"] if isinstance(d, dict) else d for d in manifest.get("dependencies", [])}
    feature = manifest.get("features", {}).get("ssl", {})
    feature_deps = [d["name"] if isinstance(d, dict) else d for d in feature.get("dependencies", [])]
    usage_text = read(os.path.join(port, "usage"))
    if "openssl" in feature_deps and "pysock::ssl" in usage_text and "pysock::ssl" in facts["targets"]:
        ok("ports/pysock/vcpkg.json", 'feature "ssl" depends on openssl; the usage and the install name pysock::ssl')
    else:
        fail("ports/pysock/vcpkg.json", f'feature "ssl" dependencies {feature_deps}, pysock::ssl in usage: '
             f'{"pysock::ssl" in usage_text}, installed targets {sorted(facts["targets"])}')
    if {"vcpkg-cmake", "vcpkg-cmake-config"} <= deps:
        ok("ports/pysock/vcpkg.json", "depends on vcpkg-cmake and vcpkg-cmake-config")
    else:
        fail("ports/pysock/vcpkg.json", f"dependencies {sorted(deps)} lack vcpkg-cmake/vcpkg-cmake-config")

    portfile = strip_cmake_comments(read(os.path.join(port, "portfile.cmake")))
    for call in ("vcpkg_cmake_configure", "vcpkg_cmake_install", "vcpkg_cmake_config_fixup",
                 "vcpkg_install_copyright"):
        if not re.search(rf"\b{call}\s*\(", portfile):
            fail("ports/pysock/portfile.cmake", f"no {call}()")
    if not re.search(r'file\(\s*REMOVE_RECURSE\s+"\$\{CURRENT_PACKAGES_DIR\}/debug"', portfile):
        fail("ports/pysock/portfile.cmake", "does not remove ${CURRENT_PACKAGES_DIR}/debug")
    opts = port_options(src) or []
    for o in ("PYSOCK_BUILD_TESTS", "PYSOCK_BUILD_EXAMPLES", "PYSOCK_BUILD_BENCHMARKS"):
        if f"-D{o}=OFF" not in opts:
            fail("ports/pysock/portfile.cmake", f"vcpkg_cmake_configure does not pass -D{o}=OFF")
    m = re.search(r"vcpkg_cmake_config_fixup\s*\(([^)]*)\)", portfile)
    cfg = re.search(r"CONFIG_PATH\s+\"?([^\s\")]+)", m.group(1)).group(1) if m and "CONFIG_PATH" in m.group(1) \
        else "share/pysock"
    if facts["configs"].get(cfg) == "pysock":
        ok("ports/pysock/portfile.cmake", f"vcpkg_cmake_config_fixup moves {cfg}/pysockConfig.cmake (installed there)")
    else:
        fail("ports/pysock/portfile.cmake",
             f"vcpkg_cmake_config_fixup expects the config in {cfg}, the install has it in {sorted(facts['configs'])}")
    m = re.search(r"vcpkg_install_copyright\s*\(\s*FILE_LIST\s+\"\$\{SOURCE_PATH\}/([^\"]+)\"", portfile)
    if m and os.path.isfile(os.path.join(src, m.group(1))):
        ok("ports/pysock/portfile.cmake", f"copyright from {m.group(1)}")
    else:
        fail("ports/pysock/portfile.cmake", "vcpkg_install_copyright(FILE_LIST ${SOURCE_PATH}/<existing file>) missing")

    usage = parse_usage(read(os.path.join(port, "usage")))
    # After vcpkg_cmake_config_fixup the config lives in share/<port name>; find_package uses its name.
    if usage["package"] == "pysock" and "pysock" in facts["configs"].values():
        ok("ports/pysock/usage", "find_package(pysock CONFIG REQUIRED) finds pysockConfig.cmake")
    else:
        fail("ports/pysock/usage", f"find_package({usage['package']}) but the install has "
             f"{sorted(facts['configs'].values())}Config.cmake")
    check_names("ports/pysock/usage", usage["target"], usage["header"], usage["pkgconfig"], facts)
    return usage


def check_names(what, target, header, pkgconfig, facts):
    if target in facts["targets"]:
        ok(what, f"target {target} is exported by the install")
    else:
        fail(what, f"target {target!r}, the install exports {sorted(facts['targets'])}")
    if header in facts["headers"]:
        ok(what, f"#include <{header}> is installed")
    else:
        fail(what, f"#include <{header}>, the install has {sorted(facts['headers'])}")
    if pkgconfig in facts["pcs"]:
        ok(what, f"pkg-config module {pkgconfig} ({facts['pcs'][pkgconfig]}/{pkgconfig}.pc) is installed")
    else:
        fail(what, f"pkg-config module {pkgconfig!r}, the install has {sorted(facts['pcs'])}")


# ---- the Conan recipe, run against a stand-in for the parts of `conan` it uses --------------------
class _Settings:
    def __init__(self, **values):
        self._values = values

    def __getattr__(self, name):
        return self._values.get(name)

    def get_safe(self, name, default=None):
        return self._values.get(name, default)


class _CppInfo:
    def __init__(self):
        self.properties = {}
        self.includedirs = ["include"]
        self.libdirs = ["lib"]
        self.bindirs = ["bin"]
        self.libs = []
        self.system_libs = []
        self.defines = []
        self.cxxflags = []
        self.sharedlinkflags = []
        self.exelinkflags = []

    def set_property(self, name, value):
        self.properties[name] = value


class _Info:
    def __init__(self):
        self.cleared = False

    def clear(self):
        self.cleared = True


def _copy(conanfile, pattern, src, dst, keep_path=True, excludes=None):
    """Like conan.tools.files.copy: pattern is matched (fnmatch) against paths relative to src."""
    import fnmatch
    copied = []
    for dirpath, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in (".git", "build", "builddir")]
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            if fnmatch.fnmatch(rel.replace(os.sep, "/"), pattern):
                out = os.path.join(dst, rel if keep_path else f)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                shutil.copy2(os.path.join(dirpath, f), out)
                copied.append(out)
    return copied


def _load(conanfile, path, encoding="utf-8"):
    with open(path, encoding=encoding) as f:
        return f.read()


def conan_stand_in():
    """Modules named like Conan's, with just what a header-only recipe calls."""
    mods = {}

    def mod(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        mods[name] = m
        return m

    class ConanException(Exception):
        pass

    class ConanInvalidConfiguration(ConanException):
        pass

    class ConanFile:
        name = None
        version = None
        settings = None

    mod("conan", ConanFile=ConanFile)
    mod("conan.errors", ConanException=ConanException, ConanInvalidConfiguration=ConanInvalidConfiguration)
    mod("conan.tools")
    mod("conan.tools.build", check_min_cppstd=lambda *a, **k: None, can_run=lambda *a, **k: True)
    mod("conan.tools.files", copy=_copy, load=_load)
    mod("conan.tools.layout", basic_layout=lambda *a, **k: None)
    mod("conan.tools.cmake", CMake=object, CMakeToolchain=object, CMakeDeps=object,
        cmake_layout=lambda *a, **k: None)
    return mods


def load_recipe(path):
    saved = {k: sys.modules.get(k) for k in conan_stand_in()}
    sys.modules.update(conan_stand_in())
    try:
        ns = {"__file__": path, "__name__": "conanfile"}
        exec(compile(read(path), path, "exec"), ns)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    base = ns["ConanFile"]
    classes = [v for v in ns.values() if isinstance(v, type) and issubclass(v, base) and v is not base]
    if len(classes) != 1:
        raise RuntimeError(f"expected one ConanFile class in {path}, found {len(classes)}")
    return classes[0]


def check_conan(src, version, usage, facts):
    what = "conanfile.py"
    try:
        cls = load_recipe(os.path.join(src, "conanfile.py"))
    except Exception as e:  # noqa: BLE001 -- any failure to load is a finding
        fail(what, f"cannot be loaded: {type(e).__name__}: {e}")
        return
    r = cls()
    r.recipe_folder = src
    r.settings = _Settings(os="Linux", arch="x86_64", compiler="gcc", build_type="Release")
    r.options = _Settings(with_ssl=False)
    r.info = _Info()
    r.cpp_info = _CppInfo()
    if r.name == "pysock":
        ok(what, 'name = "pysock"')
    else:
        fail(what, f"name = {r.name!r}")
    try:
        if hasattr(r, "set_version"):
            r.set_version()
    except Exception as e:  # noqa: BLE001
        fail(what, f"set_version() raised {type(e).__name__}: {e}")
    if str(r.version) == version:
        ok(what, f"version {r.version} = VERSION")
    else:
        fail(what, f"version {r.version!r} != VERSION {version}")
    if getattr(r, "package_type", None) == "header-library":
        ok(what, 'package_type = "header-library"')
    else:
        fail(what, f"package_type = {getattr(r, 'package_type', None)!r}")
    if hasattr(r, "package_id"):
        r.package_id()
    if r.info.cleared:
        ok(what, "package_id() calls self.info.clear()")
    else:
        fail(what, "package_id() does not call self.info.clear(): settings would be in the package id")
    exports = getattr(r, "exports_sources", None) or []
    exports = list(exports) if isinstance(exports, (list, tuple)) else [exports]

    with tempfile.TemporaryDirectory() as tmp:
        # As `conan create` does: only what exports_sources names reaches the source folder.
        r.source_folder = os.path.join(tmp, "s")
        os.makedirs(r.source_folder)
        for pattern in exports:
            _copy(r, pattern, src, r.source_folder)
        pkg = os.path.join(tmp, "p")
        os.makedirs(pkg)
        r.package_folder = pkg
        try:
            r.package()
            r.package_info()
        except Exception as e:  # noqa: BLE001
            fail(what, f"package()/package_info() raised {type(e).__name__}: {e}")
            return
        packaged = set()
        for inc in r.cpp_info.includedirs:
            base = os.path.join(pkg, inc)
            for dirpath, _, files in os.walk(base):
                for f in files:
                    packaged.add(os.path.relpath(os.path.join(dirpath, f), base).replace(os.sep, "/"))
        licenses = os.listdir(os.path.join(pkg, "licenses")) if os.path.isdir(os.path.join(pkg, "licenses")) else []
    if usage["header"] in packaged:
        ok(what, f"package() puts <{usage['header']}> on the include path, as the port's usage says")
    else:
        fail(what, f"package() + includedirs give {sorted(packaged)}, the port's usage says <{usage['header']}>")
    if licenses:
        ok(what, f"package() installs the license ({', '.join(licenses)})")
    else:
        fail(what, "package() installs no license into licenses/")
    props = r.cpp_info.properties
    cfg_name = props.get("cmake_file_name", r.name)
    if cfg_name == usage["package"]:
        ok(what, f'cmake_file_name "{cfg_name}" = find_package name in the port\'s usage')
    else:
        fail(what, f'cmake_file_name {cfg_name!r}, the port\'s usage says find_package({usage["package"]})')
    if props.get("cmake_target_name") == usage["target"]:
        ok(what, f'cmake_target_name "{usage["target"]}" = the port\'s usage')
    else:
        fail(what, f'cmake_target_name {props.get("cmake_target_name")!r}, the port\'s usage says {usage["target"]}')
    if props.get("pkg_config_name") == usage["pkgconfig"]:
        ok(what, f'pkg_config_name "{usage["pkgconfig"]}" = the port\'s usage')
    else:
        fail(what, f'pkg_config_name {props.get("pkg_config_name")!r}, the port\'s usage says {usage["pkgconfig"]}')
    check_names(what + " (package_info)", props.get("cmake_target_name"), usage["header"],
                props.get("pkg_config_name"), facts)
    # with_ssl: OpenSSL 3 required only when asked for, and then the pysock::ssl name, as the install.
    for with_ssl in (False, True):
        r2 = cls()
        r2.settings = r.settings
        r2.options = _Settings(with_ssl=with_ssl)
        r2.cpp_info = _CppInfo()
        requires = []
        r2.requires = lambda ref, **kw: requires.append(ref)
        try:
            if hasattr(r2, "requirements"):
                r2.requirements()
            r2.package_info()
        except Exception as e:  # noqa: BLE001
            fail(what, f"with_ssl={with_ssl}: requirements()/package_info() raised {type(e).__name__}: {e}")
            continue
        aliases = r2.cpp_info.properties.get("cmake_target_aliases", [])
        wants_openssl = any(ref.startswith("openssl/") for ref in requires)
        if with_ssl and wants_openssl and "pysock::ssl" in aliases and "pysock::ssl" in facts["targets"]:
            ok(what, f"with_ssl=True requires {requires} and names pysock::ssl, as the install does")
        elif not with_ssl and not wants_openssl and "pysock::ssl" not in aliases:
            ok(what, "with_ssl=False (the default) requires nothing")
        else:
            fail(what, f"with_ssl={with_ssl}: requires {requires}, target aliases {aliases}")


def check_consumers(src, version, usage):
    tp = os.path.join(src, "test_package")
    text = read(os.path.join(tp, "conanfile.py"))
    if "tested_reference_str" in text:
        ok("test_package/conanfile.py", "requires the tested reference")
    else:
        fail("test_package/conanfile.py", "does not require self.tested_reference_str")
    for d in (tp, os.path.join(src, "tests", "packaging", "vcpkg-conan-consumer")):
        rel = os.path.relpath(d, src)
        cml = strip_cmake_comments(read(os.path.join(d, "CMakeLists.txt")))
        m = re.search(r"find_package\(\s*(\S+)", cml)
        if m and m.group(1) == usage["package"] and re.search(
                rf"target_link_libraries\([^)]*\s{re.escape(usage['target'])}\s*\)", cml):
            ok(f"{rel}/CMakeLists.txt", f"find_package({usage['package']}) + {usage['target']}")
        else:
            fail(f"{rel}/CMakeLists.txt", f"must find_package({usage['package']}) and link {usage['target']}")
    main = read(os.path.join(tp, "main.cpp"))
    if f"#include <{usage['header']}>" in main and "socketpair" in main:
        ok("test_package/main.cpp", f"#include <{usage['header']}>, socketpair round trip")
    else:
        fail("test_package/main.cpp", f"must #include <{usage['header']}> and do a socketpair round trip")
    cdir = os.path.join(src, "tests", "packaging", "vcpkg-conan-consumer")
    txt = read(os.path.join(cdir, "conanfile.txt"))
    if re.search(rf"^\s*pysock/{re.escape(version)}\s*$", txt, re.M):
        ok("vcpkg-conan-consumer/conanfile.txt", f"requires pysock/{version}")
    else:
        fail("vcpkg-conan-consumer/conanfile.txt", f"does not require pysock/{version}")
    manifest = json.loads(read(os.path.join(cdir, "vcpkg.json")))
    deps = [d["name"] if isinstance(d, dict) else d for d in manifest.get("dependencies", [])]
    overlays = json.loads(read(os.path.join(cdir, "vcpkg-configuration.json"))).get("overlay-ports", [])
    if "pysock" in deps and any(os.path.isfile(os.path.join(cdir, o, "pysock", "vcpkg.json")) for o in overlays):
        ok("vcpkg-conan-consumer/vcpkg*.json", "depends on pysock, overlay-ports reaches ports/pysock")
    else:
        fail("vcpkg-conan-consumer/vcpkg*.json", f"dependencies {deps}, overlay-ports {overlays}")


def check_py_compile(src):
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("conanfile.py", "test_package/conanfile.py"):
            try:
                py_compile.compile(os.path.join(src, f), cfile=os.path.join(tmp, "x.pyc"), doraise=True)
                ok(f, "python3 -m py_compile passes")
            except py_compile.PyCompileError as e:
                fail(f, f"py_compile: {e.msg.strip()}")


def main(argv):
    if len(argv) == 3 and argv[1] == "port-options":
        opts = port_options(argv[2])
        if not opts:
            print("no vcpkg_cmake_configure OPTIONS in ports/pysock/portfile.cmake", file=sys.stderr)
            return 1
        print("\n".join(opts))
        return 0
    if len(argv) != 4 or argv[1] != "check":
        print(__doc__)
        return 2
    src, prefix = argv[2], argv[3]
    version = read(os.path.join(src, "VERSION")).strip()
    print(f"VERSION: {version}")
    facts = installed_facts(prefix)
    print(f"installed: configs {facts['configs']}, targets {sorted(facts['targets'])}, "
          f"headers {sorted(facts['headers'])}, pkg-config {facts['pcs']}")
    check_py_compile(src)
    usage = check_port(src, prefix, version, facts)
    check_conan(src, version, usage, facts)
    check_consumers(src, version, usage)
    if failures:
        print(f"recipes check: {len(failures)} disagreement(s): {', '.join(sorted(set(failures)))}")
        return 1
    print(f"recipes check: the port, the recipe and the install agree (pysock {version}, "
          f"{usage['target']}, <{usage['header']}>, pkg-config {usage['pkgconfig']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
