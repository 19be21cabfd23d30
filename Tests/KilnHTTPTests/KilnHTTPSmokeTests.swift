import Testing
import KilnHTTP
