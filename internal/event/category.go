package event

import (
	"path"
	"slices"
	"strings"
)

// Category is a coarse file type, derived from the file name's extension and its MIME type.
type Category string

// Categories.
const (
	CategoryArchive      Category = "archive"
	CategoryAudio        Category = "audio"
	CategoryDocument     Category = "document"
	CategoryExecutable   Category = "executable"
	CategoryImage        Category = "image"
	CategoryPDF          Category = "pdf"
	CategoryPresentation Category = "presentation"
	CategoryScript       Category = "script"
	CategorySourceCode   Category = "source_code"
	CategorySpreadsheet  Category = "spreadsheet"
	CategoryVideo        Category = "video"
	CategoryVirtualDisk  Category = "virtual_disk"
	CategoryEmail        Category = "email"
	CategoryOther        Category = "other"
)

var categories = []Category{CategoryArchive, CategoryAudio, CategoryDocument, CategoryExecutable,
	CategoryImage, CategoryPDF, CategoryPresentation, CategoryScript, CategorySourceCode,
	CategorySpreadsheet, CategoryVideo, CategoryVirtualDisk, CategoryEmail, CategoryOther}

// Categories lists every category.
func Categories() []Category { return slices.Clone(categories) }

// Valid reports whether c is a known category.
func (c Category) Valid() bool { return slices.Contains(categories, c) }

var byExtension = map[string]Category{}

func init() {
	for c, exts := range map[Category]string{
		CategoryArchive:      "zip 7z rar tar gz tgz bz2 xz zst tbz2 cab arj lz lzma iso",
		CategoryAudio:        "mp3 wav flac aac ogg oga m4a wma aiff aif opus mid midi",
		CategoryDocument:     "doc docx docm dot dotx odt rtf txt md pages wpd tex gdoc one log",
		CategoryExecutable:   "exe msi dll com scr app dmg pkg deb rpm apk jar so dylib bin elf",
		CategoryImage:        "jpg jpeg png gif bmp tif tiff svg webp heic heif ico psd raw cr2 nef ai eps",
		CategoryPDF:          "pdf",
		CategoryPresentation: "ppt pptx pptm pps ppsx pot potx odp key gslides",
		CategoryScript:       "sh bash zsh ps1 psm1 bat cmd vbs vbe wsf js mjs applescript",
		CategorySourceCode:   "go c h cc cpp cxx hpp cs java kt kts scala py rb rs swift m mm php pl pm lua r sql ts tsx jsx vue dart hs erl ex exs clj fs ipynb",
		CategorySpreadsheet:  "xls xlsx xlsm xlsb xlt xltx ods csv tsv numbers gsheet",
		CategoryVideo:        "mp4 m4v mov avi wmv mkv webm flv mpg mpeg 3gp",
		CategoryVirtualDisk:  "vmdk vdi vhd vhdx qcow2 ova ovf img dsk hdd hds",
		CategoryEmail:        "eml msg pst ost mbox",
	} {
		for _, e := range strings.Fields(exts) {
			byExtension[e] = c
		}
	}
}

var byMIMEPrefix = []struct {
	prefix string
	c      Category
}{
	{"application/pdf", CategoryPDF},
	{"application/vnd.openxmlformats-officedocument.spreadsheetml", CategorySpreadsheet},
	{"application/vnd.openxmlformats-officedocument.presentationml", CategoryPresentation},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml", CategoryDocument},
	{"application/vnd.ms-excel", CategorySpreadsheet},
	{"application/vnd.ms-powerpoint", CategoryPresentation},
	{"application/msword", CategoryDocument},
	{"application/vnd.oasis.opendocument.spreadsheet", CategorySpreadsheet},
	{"application/vnd.oasis.opendocument.presentation", CategoryPresentation},
	{"application/vnd.oasis.opendocument.text", CategoryDocument},
	{"application/vnd.google-apps.spreadsheet", CategorySpreadsheet},
	{"application/vnd.google-apps.presentation", CategoryPresentation},
	{"application/vnd.google-apps.document", CategoryDocument},
	{"application/zip", CategoryArchive},
	{"application/x-7z-compressed", CategoryArchive},
	{"application/x-rar", CategoryArchive},
	{"application/x-tar", CategoryArchive},
	{"application/gzip", CategoryArchive},
	{"application/x-msdownload", CategoryExecutable},
	{"application/x-executable", CategoryExecutable},
	{"application/vnd.microsoft.portable-executable", CategoryExecutable},
	{"application/x-sh", CategoryScript},
	{"text/x-shellscript", CategoryScript},
	{"application/x-powershell", CategoryScript},
	{"application/x-virtualbox-", CategoryVirtualDisk},
	{"application/x-vhd", CategoryVirtualDisk},
	{"application/x-vmdk", CategoryVirtualDisk},
	{"application/x-qemu-disk", CategoryVirtualDisk},
	{"application/x-raw-disk-image", CategoryVirtualDisk},
	{"application/javascript", CategoryScript},
	{"text/javascript", CategoryScript},
	{"message/rfc822", CategoryEmail},
	{"application/vnd.ms-outlook", CategoryEmail},
	{"text/csv", CategorySpreadsheet},
	{"text/x-", CategorySourceCode},
	{"text/", CategoryDocument},
	{"image/", CategoryImage},
	{"audio/", CategoryAudio},
	{"video/", CategoryVideo},
}

// CategoryOf derives a category from a file name and MIME type. The extension decides when it is
// known (vendors often report generic MIME types such as application/octet-stream); otherwise the
// MIME type does; otherwise the category is "other".
func CategoryOf(name, mimeType string) Category {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	if c, ok := byExtension[ext]; ok {
		return c
	}
	m := strings.ToLower(strings.TrimSpace(mimeType))
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = strings.TrimSpace(m[:i])
	}
	for _, p := range byMIMEPrefix {
		if strings.HasPrefix(m, p.prefix) {
			return p.c
		}
	}
	return CategoryOther
}
