package wire

//go:generate go run ./internal/genheader -o ../../fs/preload/polytropon_wire.h
