package wire

//go:generate go run ./internal/genheader -o ../preload/polytropon_wire.h
