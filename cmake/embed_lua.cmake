# Embeds Lua scripts into C++: each `<name>.lua` becomes a string constant
# `<namespace>::<name>` holding the script's text, defined in a generated
# .cpp and declared in a generated .hpp.
#
# A script file starts with its description: the leading lines that begin
# with `--` and the blank lines after them are not embedded (they document
# ARGV and the reply for the reader; the text Redis gets, and so its SHA1,
# is the rest of the file, unchanged). The text goes into a raw string
# literal whose delimiter does not occur in it.
#
# Include this file for onceflow_embed_lua(); the build runs it with
# `cmake -P` to generate the files.

if(CMAKE_SCRIPT_MODE_FILE AND NOT CMAKE_PARENT_LIST_FILE)
  # -- script mode: -DNAMESPACE= -DHEADER= -DSOURCE= -DINCLUDE= -DFILES= ----
  string(REPLACE "|" ";" FILES "${FILES}")
  set(hpp "// Generated from the Lua scripts by cmake/embed_lua.cmake: do not\n")
  string(APPEND hpp "// edit.\n#pragma once\n\nnamespace ${NAMESPACE} {\n\n")
  set(cpp "// Generated from the Lua scripts by cmake/embed_lua.cmake: do not\n")
  string(APPEND cpp "// edit.\n#include \"${INCLUDE}\"\n\nnamespace ${NAMESPACE} {\n")
  foreach(file IN LISTS FILES)
    get_filename_component(name "${file}" NAME_WE)
    file(READ "${file}" text)
    # The description: leading `--` lines, then blank lines.
    while(text MATCHES "^--")
      string(FIND "${text}" "\n" eol)
      if(eol EQUAL -1)
        set(text "")
      else()
        math(EXPR eol "${eol} + 1")
        string(SUBSTRING "${text}" ${eol} -1 text)
      endif()
    endwhile()
    while(text MATCHES "^\n")
      string(SUBSTRING "${text}" 1 -1 text)
    endwhile()
    set(delim "lua")
    set(n 0)
    string(FIND "${text}" ")${delim}\"" at)
    while(NOT at EQUAL -1)
      math(EXPR n "${n} + 1")
      set(delim "lua${n}")
      string(FIND "${text}" ")${delim}\"" at)
    endwhile()
    string(APPEND hpp "/// ${name}.lua\nextern const char* const ${name};\n\n")
    string(APPEND cpp "\nconst char* const ${name} = R\"${delim}(${text})${delim}\";\n")
  endforeach()
  string(APPEND hpp "} // namespace ${NAMESPACE}\n")
  string(APPEND cpp "\n} // namespace ${NAMESPACE}\n")
  file(WRITE "${HEADER}" "${hpp}")
  file(WRITE "${SOURCE}" "${cpp}")
  return()
endif()

set(onceflow_embed_lua_script "${CMAKE_CURRENT_LIST_FILE}")

# onceflow_embed_lua(<var> NAME <name> NAMESPACE <ns> FILES <file>...)
# generates <build>/generated/<name>.hpp and .cpp from FILES (again when one
# of them changes) and sets <var> to both paths, to add to a target's
# sources; `#include "<name>.hpp"` with <build>/generated as an include
# directory.
function(onceflow_embed_lua var)
  cmake_parse_arguments(arg "" "NAME;NAMESPACE" "FILES" ${ARGN})
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/generated")
  set(hpp "${dir}/${arg_NAME}.hpp")
  set(cpp "${dir}/${arg_NAME}.cpp")
  set(files "")
  foreach(f IN LISTS arg_FILES)
    get_filename_component(f "${f}" ABSOLUTE)
    list(APPEND files "${f}")
  endforeach()
  string(REPLACE ";" "|" joined "${files}")
  add_custom_command(
    OUTPUT "${hpp}" "${cpp}"
    COMMAND ${CMAKE_COMMAND} "-DNAMESPACE=${arg_NAMESPACE}"
            "-DHEADER=${hpp}" "-DSOURCE=${cpp}" "-DINCLUDE=${arg_NAME}.hpp"
            "-DFILES=${joined}" -P "${onceflow_embed_lua_script}"
    DEPENDS ${files} "${onceflow_embed_lua_script}"
    COMMENT "Embedding Lua scripts into ${arg_NAME}.cpp"
    VERBATIM)
  set(${var} "${hpp}" "${cpp}" PARENT_SCOPE)
endfunction()
