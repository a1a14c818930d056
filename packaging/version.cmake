# LIFTLAB_VERSION: the one version every binary, run directory and package
# carries. It is the project's version; built from a git checkout whose HEAD
# is not the tag v<project version>, the commit follows it as
# <project version>~git<commits>.<hash> (0.1.0~git312.692d740): a snapshot
# on the way to that release, which Debian sorts before it (the project
# version moves on once it is tagged). A new commit reconfigures, so the
# version follows HEAD. SOURCE_DATE_EPOCH, when set, dates the changelog and
# the man pages; else the commit's date does.
set(LIFTLAB_VERSION ${PROJECT_VERSION})
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${CMAKE_SOURCE_DIR}/.git")
  function(liftlab_git out)
    execute_process(COMMAND ${GIT_EXECUTABLE} ${ARGN} WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
                    OUTPUT_VARIABLE value OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
    if(failed)
      set(value "")
    endif()
    set(${out} "${value}" PARENT_SCOPE)
  endfunction()
  liftlab_git(hash rev-parse --short=7 HEAD)
  if(hash)
    liftlab_git(tag describe --tags --exact-match --match "v${PROJECT_VERSION}" HEAD)
    if(NOT tag)
      liftlab_git(commits rev-list --count HEAD)
      set(LIFTLAB_VERSION "${PROJECT_VERSION}~git${commits}.${hash}")
    endif()
    # The commit's date dates the changelog and the man pages, so a build is reproducible.
    if(DEFINED ENV{SOURCE_DATE_EPOCH})
      set(LIFTLAB_SOURCE_DATE_EPOCH "$ENV{SOURCE_DATE_EPOCH}")
    else()
      liftlab_git(LIFTLAB_SOURCE_DATE_EPOCH log -1 --format=%ct HEAD)
    endif()
    # HEAD, the branch it names, and the packed refs: what a commit or checkout changes.
    liftlab_git(git_dir rev-parse --absolute-git-dir)
    liftlab_git(branch symbolic-ref -q HEAD)
    foreach(file HEAD ${branch} packed-refs)
      if(EXISTS "${git_dir}/${file}")
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${git_dir}/${file}")
      endif()
    endforeach()
  endif()
endif()
if(NOT LIFTLAB_SOURCE_DATE_EPOCH)
  string(TIMESTAMP LIFTLAB_SOURCE_DATE_EPOCH "%s" UTC)
endif()
message(STATUS "LiftLab ${LIFTLAB_VERSION}")
