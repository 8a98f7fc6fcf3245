package apikey

// GenerateFrom and MustGenerateFrom let tests supply the random source.
var (
	GenerateFrom     = generate
	MustGenerateFrom = mustGenerate
)
