package hdfs

// ParseLocation exports parseLocation to the external tests.
var ParseLocation = parseLocation
