"""A generated media library laid out as Sonarr, Radarr and Jellyfin lay it out.

Every media file is a copy of one small generated clip; NFO files and artwork sit next to
them as Kodi and Jellyfin expect. Some files are deliberately bad (an NFO that is not XML,
one in the wrong encoding, one too large, one with an entity bomb; an image that is not
an image) so that scans and the guide are tested against what real libraries hold.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers import MEDIA_CACHE, ffmpeg_bin, make_clip

SHOW = "Show One (2005)"
EPISODE_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<episodedetails>
  <title>The Pilot</title>
  <showtitle>Show One</showtitle>
  <season>1</season>
  <episode>1</episode>
  <plot>Everything begins &amp; nothing ends.</plot>
  <aired>2005-03-24</aired>
  <runtime>22</runtime>
  <ratings>
    <rating name="tvdb" max="10" default="true"><value>8.4</value><votes>120</votes></rating>
  </ratings>
</episodedetails>
https://thetvdb.com/?tab=episode&amp;id=1
"""
TVSHOW_NFO = """<?xml version="1.0" encoding="UTF-8"?>
<tvshow>
  <title>Show One</title>
  <plot>A show about one thing.</plot>
  <mpaa>TV-14</mpaa>
  <genre>Comedy</genre>
  <genre>Drama</genre>
  <premiered>2005-03-24</premiered>
</tvshow>
"""
#: Declared UTF-8, written in Windows-1252 (as old tools do): "Café" must survive.
MOVIE_NFO_CP1252 = ("""<?xml version="1.0" encoding="UTF-8"?>
<movie>
  <title>Café Society</title>
  <plot>A plot in the wrong encoding.</plot>
  <year>1999</year>
  <genre>Romance</genre>
  <mpaa>PG-13</mpaa>
  <rating>7.1</rating>
  <runtime>96</runtime>
</movie>
""").encode("cp1252")
ENTITY_BOMB = """<?xml version="1.0"?>
<!DOCTYPE movie [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<movie><title>&d;&d;&d;&d;&d;&d;&d;&d;</title></movie>
"""


def image(path: Path, color: str = "red", size: str = "60x90") -> Path:
    """A small real JPEG or PNG made by ffmpeg."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"color={color}:size={size}", "-frames:v", "1", str(path)], check=True)
    return path


def tagged_clip() -> Path:
    """A clip whose container tags say which show and episode it is (no NFO, bare name)."""
    return make_clip(MEDIA_CACHE / "library" / "tagged.mp4", 2.0, extra=[
        "-metadata", "title=Tagged Episode", "-metadata", "show=Tagged Show",
        "-metadata", "season_number=3", "-metadata", "episode_sort=7"])


def build_library(root: Path) -> Path:
    """Write the library under ``root`` and return it."""
    clip = make_clip(MEDIA_CACHE / "library" / "two-seconds.mp4", 2.0)

    def media(relative: str) -> Path:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, path)
        return path

    tv = root / "TV" / SHOW
    media(f"TV/{SHOW}/Season 01/Show One - S01E01 - Pilot WEBDL-1080p.mp4")
    (tv / "Season 01" / "Show One - S01E01 - Pilot WEBDL-1080p.nfo").write_text(EPISODE_NFO)
    image(tv / "Season 01" / "Show One - S01E01 - Pilot WEBDL-1080p-thumb.jpg", "blue", "160x90")
    media(f"TV/{SHOW}/Season 01/Show One - S01E02-E03 - Double Trouble.mp4")
    media(f"TV/{SHOW}/Season 02/Show One - S02E05 - Fifth.mp4")
    (tv / "Season 02" / "Show One - S02E05 - Fifth.nfo").write_text("this is not xml <<<")
    (tv / "tvshow.nfo").write_text(TVSHOW_NFO)
    image(tv / "poster.jpg", "green")
    image(tv / "fanart.jpg", "gray", "160x90")
    image(tv / "season02-poster.jpg", "yellow")
    media("TV/Other Show/2x05 Cross Title.mp4")
    movies = root / "Movies"
    media("Movies/Cafe Society (1999)/Cafe Society (1999).mp4")
    (movies / "Cafe Society (1999)" / "movie.nfo").write_bytes(MOVIE_NFO_CP1252)
    image(movies / "Cafe Society (1999)" / "poster.jpg", "purple")
    media("Movies/Huge (2001)/Huge (2001).mp4")
    (movies / "Huge (2001)" / "Huge (2001).nfo").write_text(
        "<movie><title>" + "x" * 2_000_000 + "</title></movie>")
    media("Movies/Bomb (2002)/Bomb (2002).mp4")
    (movies / "Bomb (2002)" / "Bomb (2002).nfo").write_text(ENTITY_BOMB)
    (movies / "Bomb (2002)" / "poster.jpg").write_bytes(b"not an image at all")
    media("Movies/Blade.Runner.1982.1080p.BluRay.mp4")
    tagged = root / "Misc" / "clip.mp4"
    tagged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tagged_clip(), tagged)
    media("plain-clip.mp4")
    return root
