package realhdfs

// JavaMajor exports javaMajor to the external tests.
var JavaMajor = javaMajor
