/* The module object of fhirgen.runtime._accel: each part adds itself (see accel.h). */
#include "accel.h"

static struct PyModuleDef accel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fhirgen.runtime._accel",
    .m_doc = "The compiled accelerator of fhirgen validation (see fhirgen.runtime.accel).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    PyObject *module = PyModule_Create(&accel_module);
    if (module == NULL) {
        return NULL;
    }
    if (fg_vouch_init(module) < 0 || fg_dfa_init(module) < 0 || fg_walk_init(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
