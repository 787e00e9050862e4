# Debian packages of libws, built by CPack from the install components
# (./build.sh dist configures with CMAKE_INSTALL_PREFIX=/usr, then runs
# cpack -G DEB):
#   libws0     Runtime: libws.so.X.Y.Z and the SONAME link libws.so.X
#   libws-dev  Development: ws.h, the libws.so link, libws.pc, CMake files
# The version is the project's, that is WS_VERSION_STRING of include/ws.h.
set(CPACK_PACKAGE_NAME "libws")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "libws")
set(CPACK_PACKAGE_CONTACT "libws maintainers <libws@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "RFC 6455 WebSocket engine written in Go, with a C ABI")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/libws/libws")
set(CPACK_COMPONENTS_ALL Runtime Development)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "libws${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
  "libws speaks WebSocket (client and server, permessage-deflate, TLS) and\n\
serves many connections from one event loop. The Go runtime is inside the\n\
library, which links only the C library.")
# Debian's first line of Description is CPACK_PACKAGE_DESCRIPTION_SUMMARY.
# The libc6 dependency comes from the library's symbol versions
# (dpkg-shlibdeps); the shlibs file and the ldconfig trigger let other
# packages depend on this one the Debian way.
find_program(LIBWS_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(LIBWS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libc6 (>= 2.34)")
endif()
# (Global: CPack has no per-component setting; the dev package has no
# library of its own, only the libws.so link.)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME "libws-dev")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
  "Development files of libws: the header ws.h, the libws.so link, and the\n\
pkg-config (libws.pc) and CMake (find_package(libws)) files.")
# The dev package goes with the runtime of exactly its version.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
  "libws${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION})")

include(CPack)
