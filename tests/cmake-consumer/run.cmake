# ctest driver: install the libws build into a staging prefix, then build
# and run the consumer project three ways: find_package(libws),
# pkg-config, and add_subdirectory.
#   cmake -DLIBWS_SOURCE_DIR=.. -DLIBWS_BINARY_DIR=.. -DLIBWS_GO_OUTPUT=..
#         -DWORK_DIR=.. -P run.cmake
foreach(v LIBWS_SOURCE_DIR LIBWS_BINARY_DIR WORK_DIR LIBWS_GO_OUTPUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "${v} is not set")
  endif()
endforeach()
set(consumer "${LIBWS_SOURCE_DIR}/tests/cmake-consumer")
set(stage "${WORK_DIR}/stage")
file(REMOVE_RECURSE "${WORK_DIR}")
set(passed 0)
set(failed 0)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message("${out}\n${err}")
    message(FATAL_ERROR "cmake_consumer: ${what} failed (${rc})\ncmake_consumer: ${passed} passed, 1 failed")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# 1. install, then find_package.
run("cmake --install" ${CMAKE_COMMAND} --install "${LIBWS_BINARY_DIR}" --prefix "${stage}")
foreach(f include/ws.h lib/libws.so lib/libws.so.0 lib/pkgconfig/libws.pc lib/cmake/libws/libwsConfig.cmake
          lib/cmake/libws/libwsConfigVersion.cmake)
  if(NOT EXISTS "${stage}/${f}")
    message(FATAL_ERROR "cmake_consumer: ${f} was not installed\ncmake_consumer: 0 passed, 1 failed")
  endif()
endforeach()
run("configure (package)" ${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/package"
    -DLIBWS_MODE=package "-DCMAKE_PREFIX_PATH=${stage}")
run("build (package)" ${CMAKE_COMMAND} --build "${WORK_DIR}/package")
run("run (package)" "${WORK_DIR}/package/consumer")
message("find_package: ${last_output}")
math(EXPR passed "${passed} + 1")

# 2. pkg-config against the staged prefix, as installed: the .pc finds the
#    prefix from its own place, with no override.
find_program(PKG_CONFIG pkg-config)
find_program(CC_PROGRAM cc)
if(PKG_CONFIG AND CC_PROGRAM)
  set(ENV{PKG_CONFIG_PATH} "${stage}/lib/pkgconfig")
  run("pkg-config" "${PKG_CONFIG}" --cflags --libs libws)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  file(MAKE_DIRECTORY "${WORK_DIR}/pkgconfig")
  run("cc (pkg-config)" "${CC_PROGRAM}" -Wall -Wextra -Werror "${consumer}/main.c" ${flags}
      "-Wl,-rpath,${stage}/lib" -o "${WORK_DIR}/pkgconfig/consumer")
  run("run (pkg-config)" "${WORK_DIR}/pkgconfig/consumer")
  message("pkg-config: ${last_output}")
  math(EXPR passed "${passed} + 1")
endif()

# 3. add_subdirectory, reusing the library already built (no second Go build).
run("configure (subdir)" ${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/subdir"
    -DLIBWS_MODE=subdir "-DLIBWS_SOURCE_DIR=${LIBWS_SOURCE_DIR}"
    "-DLIBWS_GO_OUTPUT=${LIBWS_GO_OUTPUT}")
run("build (subdir)" ${CMAKE_COMMAND} --build "${WORK_DIR}/subdir")
run("run (subdir)" "${WORK_DIR}/subdir/consumer")
message("add_subdirectory: ${last_output}")
math(EXPR passed "${passed} + 1")

message("cmake_consumer: ${passed} passed, ${failed} failed")
