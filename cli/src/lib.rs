//! Native host library of bri-archive (skeleton; filled by the commands below).
