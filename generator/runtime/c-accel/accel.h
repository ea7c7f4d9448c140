/* fhirgen.runtime._accel: the compiled accelerator of validation.
 *
 * One extension module built from the .c files of this folder; each part adds its own types
 * and functions to the module in its init function, called by module.c. Every part only skips
 * work the pure-Python runtime would do: a verdict it cannot give exactly is left to Python. */
#ifndef FHIRGEN_ACCEL_H
#define FHIRGEN_ACCEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* vouch.c: vouch(tree, raw, max_depth) -> True / False / None, as fhirgen.runtime.validate.vouch */
int fg_vouch_init(PyObject *module);

/* dfa.c: the Matcher type (a primitive's fast check as a DFA over code points) */
int fg_dfa_init(PyObject *module);
/* 1 when *matcher* (a Matcher) accepts *value* (any object; 0 for a non-str), 0 when not,
 * -1 with an exception set. */
int fg_matcher_accepts(PyObject *matcher, PyObject *value);
/* Whether *obj* is a Matcher. */
int fg_is_matcher(PyObject *obj);

/* walk.c: the compiled walk of the generated validators' plans */
int fg_walk_init(PyObject *module);

#endif
