package main

// #cgo LDFLAGS: -lws2_32
import "C"
